"""A real headless browser for page tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright.

Use it with pytest-django's `live_server` (which gives the test a transactional database):

    from tests.browser import browser_page  # noqa: F401

    @pytest.mark.browser
    def test_something(live_server, browser_page):
        browser_page.goto(live_server.url + "/login/")

The test is skipped when Chromium or Playwright is missing (CI installs both). Playwright's own browser
download is never used. A JavaScript error on any page fails the test. Set SPOTOPT_SCREENSHOT_DIR to keep
the screenshots `screenshot(page, name)` takes (otherwise it does nothing).
"""

import os
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import TEST_PASSWORD

CHROMIUM = os.environ.get("SPOTOPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000


@pytest.fixture
def browser_page(monkeypatch):
    """A fresh page in a fresh browser context (its own profile, cookies and storage)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from the test
    # itself (SynchronousOnlyOperation) unless told the thread is really synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # While Playwright's loop runs, Django keeps this thread's database connections in separate
            # (async-context) storage: the ORM calls the test made meanwhile opened connections that only
            # this context can see and close.
            connections.close_all()
    if errors:
        pytest.fail(f"JavaScript errors on the page: {errors}")


def sign_in(page, live_server, username: str, password: str = TEST_PASSWORD) -> None:
    """Sign in on the sign-in page and land on home (the overview)."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/overview/")


def expect(target, *args, **kwargs):
    """Playwright's `expect` (retrying assertions), imported only when a browser test runs."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target, *args, **kwargs)


def screenshot(page, name: str) -> Path | None:
    """Save a full-page screenshot as SPOTOPT_SCREENSHOT_DIR/<name>.png when that variable is set."""
    directory = os.environ.get("SPOTOPT_SCREENSHOT_DIR")
    if not directory:
        return None
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
