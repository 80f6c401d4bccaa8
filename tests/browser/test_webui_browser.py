"""The admin's main path in a real browser: log in, set up an account with Override, read its policy, play a
recording; plus the phone layout and the Override switch without JavaScript. Screenshots go to
test-artifacts/screenshots/."""
from __future__ import annotations

import re
from pathlib import Path

from browser_support import log_in, screenshot
from playwright.sync_api import expect

from tests.integration.webui_fixtures import make_recording, make_world, write_wav


def _create(page, url: str, fill: dict, check: tuple = (), select: dict | None = None) -> None:
    page.goto(url)
    for label, value in fill.items():
        page.get_by_label(label, exact=True).fill(value)
    for label, value in (select or {}).items():
        page.get_by_label(label, exact=True).select_option(label=value)
    for label in check:
        page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".flash.success")).to_contain_text("Created")


def test_admin_sets_up_an_account_with_override_and_reads_its_policy(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    screenshot(page, "01-login")
    log_in(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#controller-title + p")).to_have_text("Never seen")
    screenshot(page, "02-dashboard")

    _create(page, "/products/new", {"Name": "Basic"},
            check=("Enabled", "Auto record outgoing calls", "Send the call recording via email"))
    _create(page, "/customer-classes/new", {"Name": "Residential"})
    _create(page, "/dialing-rules/new", {"Name": "Office", "Start recording code": "*71",
                                         "Stop recording code": "*72"})
    _create(page, "/customers/new", {"Name": "Acme"},
            select={"Customer class": "Residential", "Dialing rule": "Office"})

    page.goto("/accounts/new")
    page.get_by_label("Number", exact=True).fill("1001")
    page.get_by_label("Email", exact=True).fill("alice@example.com")
    page.get_by_label("Customer", exact=True).select_option(label="Acme")
    page.get_by_label("Product", exact=True).select_option(label="Basic")
    # Override off: the product's values, read-only
    outgoing = page.get_by_label("Auto record outgoing calls")
    announcement = page.get_by_label("Play the call recording announcement to all")
    expect(outgoing).to_be_disabled()
    expect(outgoing).to_be_checked()
    expect(announcement).not_to_be_checked()
    # Override on: editable, starting from the product's values
    page.get_by_label("Override", exact=True).check()
    expect(announcement).to_be_enabled()
    expect(outgoing).to_be_checked()
    announcement.check()
    page.get_by_label("Allow to start/stop recording manually").check()
    page.get_by_label("Auto record incoming calls").check()
    screenshot(page, "03-account-form-override")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".flash.success")).to_contain_text("Created account 1001.")

    panel = page.locator("#effective-policy")
    for sentence in (
        "Call recording: enabled (account 1001)",
        "Outgoing calls: recorded (account 1001)",
        "Incoming calls: recorded (account 1001)",
        "Redirected calls: not recorded automatically (account 1001)",
        "Manual start/stop: allowed (account 1001)",
        "Start/stop codes: *71 / *72 (dialing rule Office, assigned to the customer)",
        "Announcement: played to all parties when recording starts (account 1001)",
        "Email: not sent — the global setting RecordsDelivery.Enabled is No",
    ):
        expect(panel).to_contain_text(sentence)
    screenshot(page, "04-account-policy")

    # Turn RecordsDelivery.Enabled on: now the customer class is what stops the email.
    page.goto("/settings/")
    page.get_by_label("RecordsDelivery.Enabled").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text("Saved the settings.")
    screenshot(page, "05-settings")
    page.goto("/accounts/")
    page.get_by_role("link", name="1001").click()
    expect(panel).to_contain_text(
        "Email: not sent — customer class Residential has 'New call recording is available' off")


def test_admin_opens_a_recording_and_plays_it(app, page):
    ids = make_world(app)
    wav = write_wav(Path(app.config["RECORDINGS_DIR"]) / "2026" / "call-1.wav", seconds=2.0)
    make_recording(app, ids["account"], str(wav))
    log_in(page)
    page.goto("/recordings/")
    page.get_by_label("Direction").select_option("outgoing")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    screenshot(page, "06-recordings")
    page.locator("tbody tr a").first.click()
    expect(page.get_by_role("heading", name="Outgoing call of 1001")).to_be_visible()
    player = page.locator("audio#player")
    expect(player).to_be_visible()
    page.evaluate("document.getElementById('player').play()")
    # a function, not a string: the page's CSP forbids eval(), which string predicates use
    page.wait_for_function("() => document.getElementById('player').currentTime > 0", timeout=10_000)
    assert page.evaluate("document.getElementById('player').duration") > 1.5
    screenshot(page, "07-recording-playing")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "call-1.wav"

    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete this recording?")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash.success")).to_contain_text("Deleted the recording")
    assert not wav.exists()


def test_pages_fit_a_phone_screen(app, phone_page):
    page = phone_page
    ids = make_world(app)
    wav = write_wav(Path(app.config["RECORDINGS_DIR"]) / "p.wav")
    make_recording(app, ids["account"], str(wav))
    log_in(page)
    for name, url in (("dashboard", "/"), ("accounts", "/accounts/"), ("account", f"/accounts/{ids['account']}"),
                      ("recordings", "/recordings/"), ("calls", "/calls/"), ("settings", "/settings/"),
                      ("tokens", "/tokens/"), ("users", "/users/"), ("audit", "/audit/"),
                      ("password", "/users/password")):
        page.goto(url)
        # nothing wider than the screen, except inside a table's own scroll box
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (url, overflow)
        screenshot(page, f"phone-{name}")


def test_override_switch_works_without_javascript(app, nojs_page):
    page = nojs_page
    ids = make_world(app)
    log_in(page)
    page.goto(f"/accounts/{ids['account']}")
    expect(page.get_by_label("Play the call recording announcement to all")).to_be_disabled()
    page.get_by_label("Override", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_contain_text("start from product Basic's values")
    expect(page.get_by_label("Play the call recording announcement to all")).to_be_enabled()
    expect(page.locator("#effective-policy")).to_contain_text("Outgoing calls: recorded (account 1001)")
