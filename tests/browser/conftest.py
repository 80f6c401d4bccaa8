"""Browser fixtures: the test's app on a live local server, and Debian's Chromium driven by Playwright.

No browser is ever downloaded: Playwright launches /usr/bin/chromium. Without it the browser tests are
skipped locally, but fail in CI (env CI set), where .ci/run installs it.
"""
from __future__ import annotations

import os
import threading

import pytest

from tests.integration.webui_fixtures import admin  # noqa: F401
from tests.tools import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test's app served by werkzeug on 127.0.0.1 and a free port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _new_page(browser, base_url: str, viewport: dict, **options):
    context = browser.new_context(base_url=base_url, viewport=viewport, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server, admin):  # noqa: F811
    context, page = _new_page(browser, live_server, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server, admin):  # noqa: F811
    context, page = _new_page(browser, live_server, PHONE, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    yield page
    context.close()


@pytest.fixture
def nojs_page(browser, live_server, admin):  # noqa: F811
    context, page = _new_page(browser, live_server, DESKTOP, java_script_enabled=False)
    yield page
    context.close()
