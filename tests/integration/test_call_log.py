"""Every call explained (issue 12): the controller logs each account's leg with its decision and the reason in words,
on the emulator, through the real controller; the email outcome is the delivery side's own."""
from __future__ import annotations

from sqlalchemy import select

from callrec.calls import call_to_dict, recordings_of
from callrec.models import Account, CallLog, Product, db
from tests.integration.controller_harness import ALL_ON, Harness


def entries(h, **filters) -> list[dict]:
    """The call log as the API shows it (with recordings and email outcome), oldest first."""
    with h.app.app_context():
        query = select(CallLog).order_by(CallLog.id)
        for key, value in filters.items():
            query = query.where(getattr(CallLog, key) == value)
        rows = list(db.session.scalars(query))
        recs = recordings_of(db.session, rows)
        return [call_to_dict(row, recs[row.id]) for row in rows]


def by_account(h) -> dict[str, dict]:
    found = {}
    for entry in entries(h):
        assert entry["account_number"] not in found, f"two entries for {entry['account_number']}: {entries(h)}"
        found[entry["account_number"]] = entry
    return found


def _talk_and_hang_up(h, call, seconds=2):
    call.talk(seconds=seconds)
    call.hangup("a")
    h.settle()


def test_an_auto_recorded_leg_is_logged_as_recorded_with_its_reason_and_its_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.account("1001", enabled=True, auto_record_outgoing=True)  # incoming calls off
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(h, call)
    (rec,) = h.wait_finalised()
    h.settle()
    log = by_account(h)
    caller, callee = log["1000"], log["1001"]
    assert (caller["decision"], caller["reason_code"], caller["direction"]) == ("recorded", "auto_outgoing",
                                                                               "outgoing")
    assert caller["reason"] == "auto outgoing: account 1000's own configuration records outgoing calls automatically"
    assert [r["id"] for r in caller["recordings"]] == [rec.id]
    assert (caller["caller"], caller["callee"]) == ("1000", "1001")
    assert (callee["decision"], callee["reason_code"], callee["direction"]) == ("not_recorded", "incoming_off",
                                                                               "incoming")
    assert "incoming calls off" in callee["reason"] and callee["recordings"] == []
    assert callee["email"] == {"status": "none", "explanation": "no recording, so no email"}


def test_a_product_with_recording_disabled_is_named_as_the_reason(h):
    acc_id = h.account("1000", enabled=True, auto_record_outgoing=True)
    with h.app.app_context():
        acc = db.session.get(Account, acc_id)
        acc.override = False  # the product decides: and it has recording off
        db.session.get(Product, acc.product_id).name = "No recording"
        db.session.commit()
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(h, call)
    (entry,) = entries(h)
    assert (entry["decision"], entry["reason_code"]) == ("not_recorded", "recording_disabled")
    assert entry["reason"] == 'product "No recording" has recording disabled'
    assert h.commands(r"^uuid_record") == []


def test_calls_to_voicemail_retrieval_are_logged_as_never_recorded_with_the_number(h):
    h.account("1000", **ALL_ON)
    h.start()
    call = h.fs.voicemail_check("1000", dialed="*98")
    h.settle()
    _talk_and_hang_up(h, call)
    (entry,) = entries(h)
    assert (entry["decision"], entry["reason_code"]) == ("not_recorded", "voicemail_retrieval")
    assert entry["reason"] == "a call to voicemail retrieval (*98) is never recorded"


def test_a_call_diverted_to_voicemail_is_logged_as_diverted_for_the_caller_and_never_connected_for_the_callee(h):
    h.account("1000", **ALL_ON)
    h.account("1001", **ALL_ON)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.ring()
    call.no_answer_to_voicemail(message_seconds=3)
    h.settle()
    call.hangup_voicemail()
    h.settle()
    log = by_account(h)
    assert (log["1000"]["decision"], log["1000"]["reason_code"]) == ("not_recorded", "voicemail_divert")
    assert log["1000"]["reason"].startswith("diverted to voicemail")
    assert (log["1001"]["decision"], log["1001"]["reason_code"]) == ("not_recorded", "never_connected")


def test_a_call_that_never_connected_is_logged_as_never_connected(h):
    h.account("1000", **ALL_ON)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.ring()
    h.settle()
    call.cancel()
    h.settle()
    (entry,) = entries(h)
    assert (entry["account_number"], entry["decision"], entry["reason_code"]) == ("1000", "not_recorded",
                                                                                  "never_connected")
    assert entry["reason"] == "never connected: the call was not answered by another party"


def test_codes_pressed_are_logged_with_what_they_did(h):
    h.account("1000", enabled=True, manual_control=True, email_delivery=True)
    h.account("1001", enabled=True, manual_control=False)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    call.dtmf("a", "*45")  # nothing recording yet
    h.settle()
    call.dtmf("a", "*44")
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.talk(seconds=2)
    call.dtmf("a", "*45")
    h.settle()
    h.wait_command(r"^uuid_record %s stop" % call.a.uuid)
    call.dtmf("b", "*44")  # 1001 has no manual control
    h.settle()
    _talk_and_hang_up(h, call)
    log = by_account(h)
    assert (log["1000"]["decision"], log["1000"]["reason_code"]) == ("recorded", "manual")
    assert log["1000"]["reason"] == "manual: start code *44 pressed"
    assert log["1000"]["notes"] == [
        "not recorded at first: outgoing calls off: account 1000's own configuration does not record outgoing "
        "calls automatically",
        "stop code *45 pressed: nothing was recording",
        "manual: start code *44 pressed: recording started",
        "stop code *45 pressed: recording stopped",
    ]
    assert log["1001"]["decision"] == "not_recorded"
    assert log["1001"]["notes"] == ["start code *44 pressed: ignored, account 1001's own configuration has manual "
                                    "recording control off"]


def test_an_email_skipped_by_the_delivery_side_is_logged_with_its_reason(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True, notify=False)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(h, call)
    (rec,) = h.wait_finalised()
    (entry,) = entries(h, account_number="1000")
    # the Delivery row's own reason, written by the outbox when the recording was finalised
    assert rec.delivery.status == "skipped"
    assert entry["email"] == {"status": "skipped", "explanation": f"skipped because {rec.delivery.reason}"}
    assert "'New call recording is available' off" in entry["email"]["explanation"]


def test_a_forward_by_a_party_that_is_not_an_account_is_noted_on_the_leg(h):
    h.account("1000", enabled=True, auto_record_outgoing=False)
    h.account("1002", enabled=True, auto_record_incoming=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")  # 1001 is no account; the dialplan forwards it to 1002
    call.ring()
    new = call.forward(to="1002")
    new.answer()
    h.settle()
    _talk_and_hang_up(h, new)
    log = by_account(h)
    assert log["1002"]["decision"] == "recorded"
    note = "redirected by 1001, which is not an account: no recording for a redirecting party"
    assert note in log["1000"]["notes"] and note in log["1002"]["notes"]
    assert log["1000"]["reason_code"] == "outgoing_off"


def test_a_failed_start_is_logged_with_freeswitchs_reply(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    h.fs.fail_next_command(r"^uuid_record", reply="-ERR Cannot open file")
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(h, call)
    (entry,) = entries(h)
    assert (entry["decision"], entry["reason_code"]) == ("not_recorded", "start_failed")
    assert "-ERR Cannot open file" in entry["reason"]


def test_the_call_log_is_written_only_when_switched_on(app):
    harness = Harness(app, CALLREC_CALL_LOG=False)
    try:
        harness.account("1000", enabled=True, auto_record_outgoing=True)
        harness.start()
        call = harness.fs.call_user_to_user("1000", "1001")
        call.answer()
        harness.settle()
        _talk_and_hang_up(harness, call)
        assert harness.wait_finalised()  # recording goes on as before
        assert entries(harness) == []
    finally:
        harness.stop()
