"""The health endpoint an operator's load balancer polls."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthy_when_database_and_broker_answer(client, settings):
    body = client.get("/healthz/").json()
    assert body["database"] == "ok"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        assert body["broker"] == "eager (no broker)"
    else:  # the PostgreSQL + Redis run: a real connection to the broker
        assert body["broker"] == "ok"
    assert body["status"] == "ok"


def test_unhealthy_names_the_broker_when_it_does_not_answer(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # Port 9 (discard) is closed on loopback: the connection is refused at once.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    assert "127.0.0.1" not in response.content.decode()


def test_only_get_is_allowed(client):
    assert client.post("/healthz/").status_code == 405
