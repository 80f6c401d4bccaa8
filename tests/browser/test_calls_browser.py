"""Every call explained, in a real browser (issue 12): calls placed through the real controller on the emulator,
then read on the Calls page -- one not recorded with its reason, one recorded whose email was skipped, with why.
Screenshot in test-artifacts/screenshots/."""
from __future__ import annotations

from browser_support import log_in, screenshot
from playwright.sync_api import expect

from tests.integration.controller_harness import Harness


def _place_calls(app) -> None:
    """1000 calls 1001: 1000 records outgoing calls but its customer class has the email notification off; 1001
    records no incoming calls. The controller is stopped before the browser starts."""
    h = Harness(app)
    try:
        h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True, notify=False)
        h.account("1001", enabled=True, auto_record_outgoing=True)
        h.start()
        call = h.fs.call_user_to_user("1000", "1001")
        call.answer()
        h.settle()
        call.talk(seconds=2)
        call.hangup("a")
        h.wait_finalised()
        h.settle()
    finally:
        h.stop()


def test_the_calls_page_tells_why_a_call_was_not_recorded_and_why_its_email_was_skipped(app, page):
    _place_calls(app)
    log_in(page)
    page.get_by_role("link", name="Calls").click()
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    rows = page.locator("table.calls tbody tr")
    expect(rows).to_have_count(2)

    callee = rows.filter(has=page.get_by_role("cell", name="1001", exact=True))
    expect(callee.locator(".badge").first).to_have_text("not recorded")
    expect(callee.locator("td.reason")).to_have_text(
        "incoming calls off: account 1001's own configuration does not record incoming calls automatically")

    caller = rows.filter(has=page.get_by_role("cell", name="1000", exact=True))
    expect(caller.locator(".badge").first).to_have_text("recorded")
    expect(caller.locator("td.email")).to_contain_text("skipped because customer class")
    expect(caller.locator("td.email")).to_contain_text("'New call recording is available' off")
    screenshot(page, "20-calls")

    # the recorded call links to its recording
    caller.get_by_role("link", name="recording").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Outgoing call of 1000")
    expect(page.locator("body")).to_contain_text("skipped")

    # the decision filter
    page.goto("/calls/?decision=not_recorded")
    expect(page.locator("table.calls tbody tr")).to_have_count(1)
