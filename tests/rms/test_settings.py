"""Settings come from the environment with embedded defaults, and production refuses to guess.

Each case runs Django in a fresh interpreter, because settings are read once per process.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "".join(chr(c) for c in range(ord("A"), ord("A") + 58))  # 58 distinct characters
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "email": settings.EMAIL_BACKEND,
    "email_path": getattr(settings, "EMAIL_FILE_PATH", None),
    "visibility_timeout": settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"],
    "debug": settings.DEBUG,
}))
"""
# Variables the probe controls; everything else (PATH, ...) comes from the test process.
CONTROLLED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "RMS_ENV",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_DEBUG",
    "EMAIL_URL",
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    environment.update(env, DJANGO_SETTINGS_MODULE="rms.settings")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def probe(**env: str) -> dict:
    result = run(["-c", PROBE], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_is_sqlite_eager_celery_and_email_to_files():
    found = probe()
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(ROOT / "db.sqlite3")
    assert found["eager"] is True
    assert found["broker"] == "memory://"
    assert found["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert found["email_path"] == str(ROOT / "sent-emails")
    assert found["debug"] is True


def test_named_services_are_used():
    found = probe(
        DATABASE_URL="postgres://rms:secret@db.internal:5432/rms",
        CELERY_BROKER_URL="redis://cache.internal:6379/1",
        EMAIL_URL="smtp://mailer.internal:587",
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "rms"
    assert found["eager"] is False
    assert found["broker"] == "redis://cache.internal:6379/1"
    assert found["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert found["visibility_timeout"] == 900


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": GOOD_KEY}, "DJANGO_ALLOWED_HOSTS must be set"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(env, message):
    result = run(["manage.py", "check"], RMS_ENV="production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_unknown_environment_name_is_refused():
    result = run(["manage.py", "check"], RMS_ENV="staging")
    assert result.returncode != 0
    assert "RMS_ENV must be 'development' or 'production'" in result.stderr


def test_production_settings_pass_the_deployment_checklist():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        RMS_ENV="production",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="rms.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    found = probe(
        RMS_ENV="production", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="rms.example.com"
    )
    assert found["debug"] is False


def test_env_example_documents_every_variable_the_settings_read():
    settings_source = (ROOT / "rms" / "settings.py").read_text()
    documented = (ROOT / ".env.example").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    assert read, "the pattern no longer finds the variables settings.py reads"
    missing = sorted(name for name in read if f"{name}=" not in documented)
    assert not missing, f".env.example does not document {missing}"
