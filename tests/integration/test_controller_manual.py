"""Manual start/stop codes, the phone's own Record key, and policy changes without a restart."""
from __future__ import annotations

import os

from tests.fakeswitch import audio
from tests.integration.controller_harness import SOUNDS_DIR, wait_for


def _call(h, caller="1000", callee="1001"):
    call = h.fs.call_user_to_user(caller, callee)
    call.answer()
    h.settle()
    return call


def test_start_and_stop_codes_on_the_accounts_own_leg_control_its_recording(h):
    h.account("1000", enabled=True, manual_control=True, email_delivery=True)
    h.start()
    call = _call(h)
    assert h.commands(r"^uuid_record") == []
    call.dtmf("a", "*44")
    h.settle()
    start = h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.talk(seconds=2)
    call.dtmf("a", "*45")
    h.settle()
    stop = h.wait_command(r"^uuid_record %s stop" % call.a.uuid)
    assert start.line.split()[3] == stop.line.split()[3]
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.trigger, rec.status) == ("1000", "manual", "completed")


def test_digits_pressed_by_the_other_party_never_control_this_accounts_recording(h):
    h.account("1000", enabled=True, manual_control=True)
    h.account("1001", enabled=True, manual_control=True, auto_record_incoming=True)
    h.start()
    call = _call(h)
    h.wait_command(r"^uuid_record %s start" % call.b.uuid)  # 1001 records its own leg
    call.dtmf("b", "*44")  # 1001 presses 1000's start code on its own leg: only 1001's leg is affected
    call.dtmf("b", "*45")  # ... and stops its own recording
    h.settle()
    assert h.commands(r"^uuid_record %s" % call.a.uuid) == []
    assert len(h.commands(r"^uuid_record %s stop" % call.b.uuid)) == 1


def test_codes_are_ignored_when_manual_control_is_off(h):
    h.account("1000", enabled=True, manual_control=False)
    h.start()
    call = _call(h)
    call.dtmf("a", "*44")
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_dialing_rule_codes_take_precedence_over_the_defaults(h):
    h.account("1000", enabled=True, manual_control=True, codes=("*71", "*72"))
    h.start()
    call = _call(h)
    call.dtmf("a", "*44")
    h.settle()
    assert h.commands(r"^uuid_record") == []
    call.dtmf("a", "*71")
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)


def test_a_code_split_over_dtmf_events_within_the_inter_digit_timeout_counts(h):
    h.account("1000", enabled=True, manual_control=True)
    h.start()
    call = _call(h)
    call.dtmf("a", "*")
    call.wait(1.0)  # virtual time, well inside the 3 s default
    call.dtmf("a", "4")
    call.wait(1.0)
    call.dtmf("a", "4")
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)


def test_digits_further_apart_than_the_inter_digit_timeout_do_not_make_a_code(h):
    h.account("1000", enabled=True, manual_control=True)
    h.start()
    call = _call(h)
    call.dtmf("a", "*4")
    call.wait(3.5)  # longer than the 3 s default
    call.dtmf("a", "4")
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_stop_then_start_again_continues_the_same_file(h):
    h.account("1000", enabled=True, manual_control=True, announcement=True)
    h.start()
    call = _call(h)
    call.dtmf("a", "*44")
    h.settle()
    call.talk(seconds=2)
    call.dtmf("a", "*45")
    h.settle()
    call.talk(seconds=2)  # not recorded
    call.dtmf("a", "*44")
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    starts = h.commands(r"^uuid_record %s start" % call.a.uuid)
    assert len(starts) == 2 and starts[0].line.split()[3] == starts[1].line.split()[3] == rec.file_path
    assert "RECORD_APPEND=true" in starts[1].line
    assert 4 <= rec.duration_seconds < 6  # both recorded spans, not the paused one
    # announced at every start, to both parties
    assert len(h.commands(r"^uuid_displace %s start \S+call-recording-started" % call.a.uuid)) == 2
    assert len(h.commands(r"^uuid_displace %s start \S+call-recording-started" % call.b.uuid)) == 2
    assert len(h.recordings()) == 1


def test_the_phones_record_key_is_adopted_as_a_manual_recording_when_manual_control_is_on(h):
    h.account("1000", enabled=True, manual_control=True, email_delivery=True)
    h.start()
    call = _call(h)
    call.record_key("a", on=True)
    h.settle()
    call.talk(seconds=2)
    call.record_key("a", on=False)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.trigger, rec.status) == ("1000", "phone", "completed")
    assert rec.file_path.startswith(h.recordings_dir) and os.path.isfile(rec.file_path)
    assert rec.delivery.status == "pending"
    assert h.commands(r"^uuid_record") == []  # nothing asked by us


def test_the_phones_record_key_is_recognised_on_the_real_event_order_and_announced_to_every_party(h):
    """RECORD_START comes before mod_sofia sets sofia_record_file (the emulator sends them in that order, as the
    real switch does): the controller asks the leg, adopts the file, and announces it to both parties."""
    h.account("1000", enabled=True, manual_control=True, announcement=True)
    h.start()
    call = _call(h)
    call.record_key("a", on=True)
    h.wait_command(r"^uuid_getvar %s sofia_record_file$" % call.a.uuid)
    to_b = h.wait_command(r"^uuid_displace %s start \S+call-recording-started.wav 0 rm$" % call.b.uuid)
    assert h.commands(r"^uuid_displace %s start" % call.a.uuid)
    call.talk(seconds=3)
    call.record_key("a", on=False)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert rec.trigger == "phone" and to_b is not None
    reference = SOUNDS_DIR / "callrec" / "8000" / "call-recording-started.wav"
    assert audio.contains(rec.file_path, str(reference), channel=0)


def test_a_record_key_path_that_is_not_a_plain_file_path_is_never_put_into_a_command(h, caplog):
    """record-template holds ${caller_id_number}: a caller-chosen number with newlines and ESL commands in it
    must not reach the Event Socket (it would run them)."""
    h.account("1000", enabled=True, manual_control=False)
    h.start()
    call = _call(h)
    call.a.profile["Caller-ID-Number"] = "1000\n\nbgapi status\n\napi version"
    call.record_key("a", on=True)
    wait_for(lambda: "refused recording path" in caplog.text)
    call.hangup("a")
    h.settle()
    assert h.commands(r"^(bgapi|status|version|uuid_record|uuid_setvar|uuid_getvar)") == []
    assert h.recordings() == []


def test_the_phones_record_key_is_refused_without_manual_control(h):
    h.account("1000", enabled=True, manual_control=False, auto_record_outgoing=False)
    h.start()
    call = _call(h)
    call.record_key("a", on=True)
    h.settle()
    h.wait_command(r"^uuid_setvar %s sip_disable_recording true" % call.a.uuid)
    h.wait_command(r"^uuid_record %s stop " % call.a.uuid)
    call.hangup("a")
    h.settle()
    assert h.recordings() == []


def test_policy_changes_made_through_the_api_apply_to_the_next_call_without_a_restart(h, api):
    account_id = h.account("1000", enabled=True, auto_record_outgoing=False)
    h.start()
    first = _call(h)
    first.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == []
    response = api.patch(f"/api/v1/accounts/{account_id}", json={"call_recording": {"auto_record_outgoing": True}})
    assert response.status_code == 200, response.get_json()
    revision_before = h.controller.policies.revision
    wait_for(lambda: h.controller.policies.revision > revision_before, 5, "the policy cache to refresh")
    second = _call(h)
    h.wait_command(r"^uuid_record %s start" % second.a.uuid)
    second.hangup("a")
    (rec,) = h.wait_finalised()
    assert rec.leg_uuid == second.a.uuid
