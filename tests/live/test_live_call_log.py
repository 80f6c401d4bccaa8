"""Every call explained, on a real FreeSWITCH with real SIP phones (issue 12): each account's leg of a real call
has its call-log entry through the API -- recorded with its reason and recording, not recorded with its reason."""
from __future__ import annotations

from .conftest import wait_until
from .sip import Hangup, Pause
from .test_live_recording import place_call


def new_entries(product, seen: set, count: int, timeout: float = 30) -> list[dict]:
    def found():
        items = [c for c in product.api.items("/calls?per_page=100") if c["id"] not in seen]
        return items if len(items) >= count else None
    return wait_until(f"{count} new call-log entries", found, timeout)


def test_a_real_calls_legs_are_logged_recorded_with_their_recording_and_not_recorded_with_the_reason(
        product, phones):
    product.set_policy("1000", auto_record_outgoing=True, email_delivery=True)
    product.set_policy("1001", auto_record_outgoing=True)  # incoming calls off
    seen = {c["id"] for c in product.api.items("/calls?per_page=100")}
    place_call(phones, "1000", "1001", talk=3)
    entries = new_entries(product, seen, 2)
    by_account = {e["account_number"]: e for e in entries}
    caller, callee = by_account["1000"], by_account["1001"]
    assert (caller["decision"], caller["reason_code"], caller["direction"]) == ("recorded", "auto_outgoing",
                                                                               "outgoing")
    assert caller["reason"] == "auto outgoing: account 1000's own configuration records outgoing calls automatically"
    (rec,) = wait_until("the caller's recording, finalised", lambda: [
        r for r in product.api.get(f"/calls/{caller['id']}")["recordings"] if r["status"] != "recording"], 30)
    assert (rec["account_number"], rec["status"], rec["call_uuid"]) == ("1000", "completed", caller["call_key"])
    assert (callee["decision"], callee["reason_code"], callee["direction"]) == ("not_recorded", "incoming_off",
                                                                               "incoming")
    assert callee["reason"] == ("incoming calls off: account 1001's own configuration does not record incoming "
                                "calls automatically")
    assert callee["recordings"] == [] and callee["email"]["status"] == "none"
    assert caller["caller"] == "1000" and "1001" in (caller["callee"], callee["callee"])


def test_a_real_call_to_voicemail_retrieval_is_logged_as_never_recorded(product, phones):
    product.set_policy("1000", auto_record_outgoing=True, auto_record_incoming=True)
    seen = {c["id"] for c in product.api.items("/calls?per_page=100")}
    phones("1000").call("*98", [Pause(2.5), Hangup()], talk=10).wait(30)
    (entry,) = new_entries(product, seen, 1)
    assert (entry["account_number"], entry["decision"], entry["reason_code"]) == ("1000", "not_recorded",
                                                                                  "voicemail_retrieval")
    assert entry["reason"] == "a call to voicemail retrieval (*98) is never recorded"


def test_a_start_asked_over_the_rest_api_records_a_real_call_in_progress(product, phones):
    from .sip import AwaitHangup

    product.set_policy("1000", manual_control=True, email_delivery=True)
    product.set_policy("1001")  # nothing: only the API's start records
    seen_requests_legs = {c["leg_uuid"] for c in product.api.items("/calls/live")}
    answer = phones("1001").answer([AwaitHangup()], talk=30)
    call = phones("1000").call("1001", [Pause(8), Hangup()], talk=30)
    (leg,) = wait_until("1000's leg on the live list", lambda: [
        c for c in product.api.items("/calls/live")
        if c["account_number"] == "1000" and c["leg_uuid"] not in seen_requests_legs], 15)
    assert leg["recording"] == "off"
    request = product.api.post(f"/calls/{leg['leg_uuid']}/recording/start", {})
    done = wait_until("the request's outcome", lambda: (lambda r: r if r["status"] != "pending" else None)(
        product.api.get(f"/call-requests/{request['id']}")), 10)
    assert (done["status"], done["detail"]) == ("done", "recording started")
    call.wait(40)
    answer.wait(30)
    (rec,) = wait_until("the recording", lambda: [
        r for r in product.recordings(call_uuid=leg["call_key"])
        if r["status"] != "recording" and r["account_number"] == "1000"], 30)
    assert (rec["account_number"], rec["trigger"], rec["status"]) == ("1000", "manual", "completed")
    assert 2 < rec["duration_seconds"] < 9
