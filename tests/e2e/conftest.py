"""Fixtures for the browser tests: a real Chromium driven by playwright against ``live_server``.

Chromium is Debian's (``/usr/bin/chromium``); ``playwright install`` is never needed. Every test in
this folder is marked ``e2e`` so that ``pytest -m "not e2e"`` skips the slow ones.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_interface.cache import del_cached_active_theme
from admin_interface.models import Theme
from playwright.sync_api import Browser, Page, expect, sync_playwright

from workspace.theme import activate_rms_theme

# Playwright's sync API keeps an asyncio loop marked as running in this thread from start to stop,
# so Django's ORM (test code, factories, the per-test flush) raises SynchronousOnlyOperation
# unless DJANGO_ALLOW_ASYNC_UNSAFE is set. It is set only while the browser runs (see
# ``browser``), not at import: set for the whole session it leaks into every later test, and into
# the subprocesses they start (``manage.py check --deploy`` fails on it, async.W001).
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
# Generous enough for a loaded CI machine, short enough that a broken selector fails fast.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

FINANCE_USERNAME = "finance"
FINANCE_PASSWORD = "correct-horse-battery-staple"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``e2e``, even one whose module forgets ``pytestmark``."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for all of tests/e2e, stopped when the run leaves this folder.

    Package scope rather than session: pytest-django runs non-database tests after transactional
    ones, so a session-long browser (and its running loop) would outlive these tests.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ASYNC_UNSAFE, os.environ.get(ASYNC_UNSAFE, "true"))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no cookies shared between tests)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def rms_theme(transactional_db) -> None:
    """Install RMS's admin theme, which the live server's per-test flush takes away with its row.

    Without it the theme app falls back to its default look, and the screenshots would not show
    RMS's. The cached theme is dropped so that the live server reads the new row.
    """
    activate_rms_theme(Theme)
    del_cached_active_theme()


@pytest.fixture
def finance_user(django_user_model, settings):
    """A superuser, as finance admins use the back office; saved in the live server's database."""
    # The login form still checks the password; a fast hasher only saves ~1 s of PBKDF2 a test.
    # (Settings are process-wide, so live_server's thread sees the override too.)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_superuser(
        FINANCE_USERNAME, "finance@example.com", FINANCE_PASSWORD
    )


def admin_login(page: Page, base_url: str) -> None:
    """Log in through the admin's own login form, as a person would."""
    page.goto(f"{base_url}/admin/")
    # Unauthenticated: the admin redirects to its login form.
    expect(page).to_have_url(f"{base_url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(FINANCE_USERNAME)
    page.get_by_label("Password").fill(FINANCE_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/admin/")


@pytest.fixture
def admin_page(page: Page, live_server, finance_user) -> Page:
    """A page logged into the admin of ``live_server`` as the finance superuser."""
    admin_login(page, live_server.url)
    return page


DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where screenshots go: docs/screenshots with RMS_UPDATE_SCREENSHOTS=1, else a temp dir.

    Every run takes them (so a broken page still fails), but only a deliberate run rewrites
    the documented ones.
    """
    if os.environ.get("RMS_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path
