"""Auto recording per effective policy, the announcement and finalisation, with the real controller."""
from __future__ import annotations

import os

from tests.fakeswitch import audio
from tests.integration.controller_harness import SOUNDS_DIR


def _talk_and_hang_up(call, seconds=3, side="a"):
    call.talk(seconds=seconds)
    call.hangup(side)


def test_outgoing_call_is_recorded_on_the_callers_own_leg(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.account("1001", enabled=True)  # an account that records nothing
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    cmd = h.wait_command(r"^uuid_record \S+ start")
    assert cmd.line.split()[1] == call.a.uuid
    _talk_and_hang_up(call)
    (rec,) = h.wait_finalised(account_number="1000")
    assert (rec.direction, rec.trigger, rec.leg_uuid, rec.call_uuid) == ("outgoing", "auto", call.a.uuid, call.a.uuid)
    assert rec.status == "completed" and rec.duration_seconds >= 2.5 and rec.size_bytes > 0 and rec.sha256
    assert rec.file_path.startswith(h.recordings_dir) and rec.file_path.endswith(f"/{call.a.uuid}_1000.wav")
    assert rec.delivery.status == "pending" and rec.delivery.recipient == "u1000@example.test"
    assert not h.commands(r"^uuid_record %s start" % call.b.uuid)


def test_incoming_call_is_recorded_on_the_called_accounts_own_leg(h):
    h.account("1000", enabled=True)
    h.account("1001", enabled=True, auto_record_incoming=True, email_delivery=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.b.uuid)
    _talk_and_hang_up(call, side="b")
    (rec,) = h.wait_finalised(account_number="1001")
    assert (rec.direction, rec.leg_uuid, rec.status) == ("incoming", call.b.uuid, "completed")
    assert rec.call_uuid == call.a.uuid  # the call is the A-leg's; the file is the account's own leg
    assert not h.commands(r"^uuid_record %s start" % call.a.uuid)


def test_outgoing_flag_does_not_record_incoming_calls_and_vice_versa(h):
    h.account("1000", enabled=True, auto_record_incoming=True)   # calls out: not recorded
    h.account("1001", enabled=True, auto_record_outgoing=True)   # is called: not recorded
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_both_parties_accounts_each_get_their_own_recording_of_their_own_leg(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.account("1001", enabled=True, auto_record_incoming=True, email_delivery=False)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    a, b = h.wait_finalised(2)
    by_account = {r.account_number: r for r in (a, b)}
    assert by_account["1000"].leg_uuid == call.a.uuid and by_account["1000"].direction == "outgoing"
    assert by_account["1001"].leg_uuid == call.b.uuid and by_account["1001"].direction == "incoming"
    assert by_account["1000"].file_path != by_account["1001"].file_path
    # each by its own policy: 1001 does not want emails
    assert by_account["1000"].delivery.status == "pending"
    assert by_account["1001"].delivery.status == "skipped"


def test_an_external_party_never_triggers_a_recording(h):
    # the outside caller's number equals an account that records everything: it is still not that account
    h.account("1000", enabled=True, auto_record_outgoing=True, auto_record_incoming=True)
    h.account("1001", enabled=True)
    h.start()
    call = h.fs.call_external_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_an_account_calling_an_external_number_is_recorded_as_outgoing(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    call = h.fs.call_user_to_external("1000", "15551234567")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction, rec.leg_uuid) == ("1000", "outgoing", call.a.uuid)
    assert len(h.commands(r"^uuid_record \S+ start")) == 1


def test_enabled_off_records_nothing(h):
    h.account("1000", enabled=False, auto_record_outgoing=True, auto_record_incoming=True, manual_control=True)
    h.account("1001", enabled=False, auto_record_outgoing=True, auto_record_incoming=True, manual_control=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    call.dtmf("a", "*44")
    _talk_and_hang_up(call)
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_injected_caller_id_name_never_changes_whose_leg_it_is(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.account("1003", enabled=False)
    h.start()
    hostile = "Bob%0AUnique-ID: 00000000-0000-0000-0000-000000000000%0Avariable_user_name: 1000\nvariable_user_name: 1000"
    call = h.fs.call_user_to_user("1003", "1001", cid_name=hostile)
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []
    leg = h.controller.tracker.get(call.a.uuid)
    assert leg is not None and leg.account == "1003"
    assert h.controller.tracker.get("00000000-0000-0000-0000-000000000000") is None


def test_announcement_plays_after_the_record_command_succeeded_and_is_in_the_file(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, announcement=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    record = h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    to_b = h.wait_command(r"^uuid_displace %s start \S+ 0 rm$" % call.b.uuid)
    to_a = h.wait_command(r"^uuid_displace %s start \S+ 0 rm$" % call.a.uuid)
    assert record.index < to_a.index < to_b.index and record.reply.startswith("+OK")
    assert to_a.line.split()[3] == f"{SOUNDS_DIR}/callrec/call-recording-started.wav"
    _talk_and_hang_up(call, seconds=4)
    (rec,) = h.wait_finalised()
    reference = SOUNDS_DIR / "callrec" / "8000" / "call-recording-started.wav"
    for channel in (0, 1):  # each party hears it once: in its own channel of the stereo file
        assert audio.contains(rec.file_path, str(reference), channel=channel)


def test_two_recordings_starting_at_one_bridge_announce_once_per_party(h):
    for number in ("1000", "1001"):
        h.account(number, enabled=True, auto_record_outgoing=True, auto_record_incoming=True, announcement=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    h.wait_command(r"^uuid_displace %s start" % call.b.uuid)
    _talk_and_hang_up(call, seconds=4)
    h.wait_finalised(2)
    displaced = h.commands(r"^uuid_displace")
    assert sorted(c.line.split()[1] for c in displaced) == sorted([call.a.uuid, call.b.uuid])
    assert h.commands(r"^uuid_broadcast") == []


def test_no_announcement_when_the_record_command_failed(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, announcement=True)
    h.start()
    h.fs.fail_next_command(r"^uuid_record")
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    _talk_and_hang_up(call)
    h.settle()
    assert h.commands(r"^uuid_(broadcast|displace)") == []
    assert h.recordings() == []
    assert h.controller.metrics.recordings_failed._value.get() == 1


def test_hold_broadcast_and_rebridge_never_start_a_second_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, announcement=True)
    h.account("1001", enabled=True, auto_record_incoming=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    call.talk(seconds=2)  # the announcement plays: EXECUTE / PLAYBACK_* on both legs
    call.hold("b")
    call.talk(seconds=1)
    call.unhold("b")
    h.off_hub(h.fs.wait_for_event, "CHANNEL_UNHOLD")
    h.controller.esl.api(f"uuid_bridge {call.a.uuid} {call.b.uuid}")  # a re-bridge of the same pair
    _talk_and_hang_up(call)
    rows = h.wait_finalised(2)
    assert len(h.commands(r"^uuid_record %s start" % call.a.uuid)) == 1
    assert len(h.commands(r"^uuid_record %s start" % call.b.uuid)) == 1
    assert sorted(r.account_number for r in rows) == ["1000", "1001"]


def test_recording_shorter_than_the_minimum_is_marked_too_short_and_not_delivered(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    with h.app.app_context():
        from callrec.models import Settings, db
        db.session.get(Settings, 1).min_recording_seconds = 5
        db.session.commit()
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call, seconds=2)
    (rec,) = h.wait_finalised()
    assert rec.status == "too_short" and rec.duration_seconds < 5
    assert rec.delivery.status == "skipped" and "too short" in rec.delivery.reason


def test_missing_recording_file_is_marked_missing_and_not_delivered(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.start()
    # FreeSWITCH says +OK but never writes the file (e.g. a full or unmounted disk)
    h.fs.fail_next_command(r"^uuid_record", reply="+OK Success\n")
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    (rec,) = h.wait_finalised()
    assert rec.status == "missing" and not os.path.exists(rec.file_path)
    assert rec.delivery.status == "skipped"


def test_without_an_email_recipient_the_delivery_stores_the_reason(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True, notify=False)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    _talk_and_hang_up(call)
    (rec,) = h.wait_finalised()
    assert rec.status == "completed"
    assert rec.delivery.status == "skipped" and "New call recording is available" in rec.delivery.reason
