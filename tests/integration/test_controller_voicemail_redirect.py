"""Voicemail is never recorded; redirected calls are recorded for the redirecting account only."""
from __future__ import annotations

import pytest

from tests.integration.controller_harness import wait_for, ALL_ON


def test_calls_to_voicemail_retrieval_are_never_auto_recorded(h):
    h.account("1000", **ALL_ON)
    h.start()
    for dialed in ("*98", "vmain", "4000"):
        call = h.fs.voicemail_check("1000", dialed=dialed)
        h.settle()
        call.talk(seconds=2)
        call.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_calls_answered_by_the_voicemail_application_are_never_auto_recorded(h):
    h.account("1000", **ALL_ON)
    h.start()
    call = h.fs.voicemail_check("1000", dialed="*97")  # not an access number, but the voicemail app answers
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_voicemail_access_numbers_come_from_the_settings(h):
    h.account("1000", **ALL_ON)
    with h.app.app_context():
        from callrec.models import Settings, db
        db.session.get(Settings, 1).voicemail_numbers = "*97"
        db.session.commit()
    h.start()
    call = h.fs.voicemail_check("1000", dialed="*97")
    h.settle()
    call.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_call_diverted_to_voicemail_is_not_recorded_for_anyone(h):
    h.account("1000", **ALL_ON)
    h.account("1001", **ALL_ON)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.ring()
    call.no_answer_to_voicemail(message_seconds=3)  # answered by the dialplan, bridged to loopback voicemail
    h.settle()
    call.hangup_voicemail()
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []
    # voicemail's own message recording is left alone (not refused, not adopted)
    assert h.commands(r"^uuid_setvar") == []


def _accounts(h, redirected=True):
    h.account("1000", enabled=True)
    h.account("1001", enabled=True, auto_record_redirected=redirected, email_delivery=True)
    h.account("1002", enabled=True)


@pytest.mark.parametrize("method", ["refer", "dialplan"])
def test_blind_transfer_is_recorded_for_the_redirecting_account(h, method):
    _accounts(h)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    call.talk(seconds=1)
    new = call.blind_transfer(by="b", to="1002", method=method)
    new.answer()
    h.settle()
    new.talk(seconds=3)
    new.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction, rec.status) == ("1001", "redirected", "completed")
    assert rec.leg_uuid == call.a.uuid  # the transferred caller's leg carries both parties after the transfer
    assert rec.delivery.status == "pending"


def test_redirected_call_is_not_recorded_when_auto_record_redirected_is_off(h):
    _accounts(h, redirected=False)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    new = call.blind_transfer(by="b", to="1002")
    new.answer()
    h.settle()
    new.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_a_redirect_by_an_unknown_party_is_never_recorded(h):
    h.account("1002", enabled=True, auto_record_redirected=True)
    h.start()
    # an outside caller reaches 15550001 (not an account) who transfers to 1002
    call = h.fs.call_user_to_external("15550009", "15550001")
    call.answer()
    h.settle()
    new = call.blind_transfer(by="b", to="1002")
    new.answer()
    h.settle()
    new.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_a_transfer_never_gives_a_leg_a_second_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.account("1001", enabled=True, auto_record_redirected=True)
    h.account("1002", enabled=True, auto_record_incoming=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    new = call.blind_transfer(by="b", to="1002")
    new.answer()
    h.settle()
    new.talk(seconds=2)
    new.hangup("a")
    rows = h.wait_finalised(3)
    assert sorted((r.account_number, r.direction) for r in rows) == [
        ("1000", "outgoing"), ("1001", "redirected"), ("1002", "incoming")]
    # the caller's leg: one recording of its own (1000) plus the redirecting account's; never a second 1000
    a_starts = h.commands(r"^uuid_record %s start" % call.a.uuid)
    assert sorted(c.line.split()[3].rsplit("_", 1)[1] for c in a_starts) == ["1000.wav", "1001.wav"]


def test_attended_transfer_is_recorded_for_the_transferor(h):
    _accounts(h)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    consult = call.attended_transfer(by="b", to="1002")
    consult.answer()
    consult.talk(seconds=1)
    new = consult.complete()
    h.settle()
    new.talk(seconds=3)
    new.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction, rec.status) == ("1001", "redirected", "completed")
    # the transferor's leg had its dialed_user rewritten to 1002: it must still count as 1001's leg
    assert h.controller.tracker.get(call.b.uuid).account == "1001"


def test_forward_with_a_diversion_header_is_recorded_for_the_forwarding_account(h):
    _accounts(h)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.ring()
    h.settle()
    new = call.forward(to="1002")
    new.answer()
    h.settle()
    new.talk(seconds=2)
    new.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction) == ("1001", "redirected")


CALLERS_DIVERSION = "<sip:1001@127.0.0.1>;reason=unconditional"


@pytest.mark.parametrize("place_call", [
    lambda fs: fs.call_user_to_user("1000", "1002", diversion=CALLERS_DIVERSION),
    # the caller dialed 1001's number, which the ISP's dialplan routes to 1002 without a Diversion of its own
    # (a hunt group, follow-me): the caller's header even names the number dialed
    lambda fs: fs.call_forwarded_number("1000", "1001", to="1002", by=None, diversion=CALLERS_DIVERSION),
], ids=["plain-extension", "names-the-dialed-number"])
def test_a_callers_own_diversion_never_makes_a_call_redirected(h, place_call):
    """The caller's INVITE names account 1001 in a Diversion header: on the caller's leg from its CHANNEL_CREATE on,
    and mod_sofia's copy on the B-leg."""
    h.account("1000", enabled=True)
    h.account("1001", enabled=True, auto_record_redirected=True)
    h.account("1002", enabled=True, auto_record_incoming=True)
    h.start()
    call = place_call(h.fs)
    assert call.b.get_var("sip_h_Diversion") == CALLERS_DIVERSION  # copied, as on the real switch
    call.ring().answer()
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction) == ("1002", "incoming")
    assert h.commands(r"^uuid_record \S+ start \S+_1001\.wav") == []


@pytest.mark.parametrize("callers_own", [None, "<sip:1003@carrier.example>;reason=no-answer"],
                         ids=["no-callers-diversion", "over-the-callers-diversion"])
def test_a_dialplan_forward_of_a_did_with_sip_h_diversion_is_recorded_for_the_forwarding_account(h, callers_own):
    """The ISP's dialplan forwards 5550100 (nobody's number) to 1002 and names 1001 in sip_h_Diversion."""
    _accounts(h)
    h.account("1003", enabled=True, auto_record_redirected=True)
    h.start()
    call = h.fs.call_forwarded_number("1000", "5550100", to="1002", by="1001", diversion=callers_own)
    call.ring().answer()
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.account_number, rec.direction, rec.status) == ("1001", "redirected", "completed")


def test_a_dialplan_forward_is_not_recorded_when_the_forwarding_account_does_not_record_redirected_calls(h):
    h.account("1000", enabled=True)
    h.account("1001", enabled=True, auto_record_incoming=True, auto_record_outgoing=True)
    h.account("1002", enabled=True)
    h.start()
    call = h.fs.call_forwarded_number("1000", "5550100", to="1002", by="1001")
    call.ring().answer()
    h.settle()
    call.hangup("a")
    h.settle()
    assert h.commands(r"^uuid_record") == [] and h.recordings() == []


def test_the_consulted_accounts_own_recording_starts_at_the_consult_bridge(h):
    from tests.fakeswitch import audio

    h.account("1000", enabled=True)
    h.account("1001", enabled=True, auto_record_redirected=True)
    h.account("1002", enabled=True, auto_record_incoming=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    consult = call.attended_transfer(by="b", to="1002").ring()
    h.settle()
    since = len(h.fs.commands)
    consult.answer()  # the consultation is a real call: 1002's leg is bridged to the transferor's
    start = h.wait_command(r"^uuid_record %s start" % consult.c.uuid, since=since)
    h.settle()
    consult.talk(seconds=2)
    assert [r.account_number for r in h.recordings()] == ["1002"]  # nobody else records the consultation
    at_completion = len(h.fs.commands)
    new = consult.complete()
    h.settle()
    new.talk(seconds=3)
    new.hangup("a")
    rows = h.wait_finalised(2)
    assert sorted((r.account_number, r.direction, r.status) for r in rows) == [
        ("1001", "redirected", "completed"), ("1002", "incoming", "completed")]
    (own,) = [r for r in rows if r.account_number == "1002"]
    assert own.leg_uuid == consult.c.uuid
    # the final bridge (uuid_bridge, roles inverted) is the same leg: no second recording for 1002
    starts_1002 = [c for c in h.commands(r"^uuid_record \S+ start") if "callrec_account=1002" in c.line]
    assert starts_1002 == [start]
    # the transferor's redirected recording follows the rules it always had: from the final bridge, on
    # the leg that bridge's markers are on (att_xfer_result/originator: the consulted party's leg)
    (redirected,) = [r for r in rows if r.account_number == "1001"]
    assert redirected.leg_uuid == consult.c.uuid
    (start_1001,) = [c for c in h.commands(r"^uuid_record \S+ start") if "callrec_account=1001" in c.line]
    assert start_1001.index >= at_completion
    assert h.controller.tracker.get(call.b.uuid).account == "1001"
    # 1002's file holds the consultation (the transferor's voice) and then the caller's
    wav = start.line.split()[3]
    assert audio.tone_level(wav, audio.party_frequency("1001"), channel=1, start=0, seconds=2) > 0.5
    assert audio.tone_level(wav, audio.party_frequency("1000"), channel=1, start=2, seconds=3) > 0.5


def test_a_new_party_after_a_transfer_hears_the_announcement_of_the_recording_that_goes_on(h):
    """1000's outgoing recording was announced to 1000 and 1001; 1001 transfers the call to 1002 (no other
    recording starts): 1002 hears it too, mixed into 1000's audio, and nobody hears it twice."""
    h.account("1000", enabled=True, auto_record_outgoing=True, announcement=True)
    h.account("1001", enabled=True)
    h.account("1002", enabled=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    h.wait_command(r"^uuid_displace %s start" % call.b.uuid)
    first = len(h.commands(r"^uuid_displace"))
    new = call.blind_transfer(by="b", to="1002")
    new.answer()
    h.settle()
    to_a = r"^uuid_displace %s start \S+call-recording-started.wav 0 rm$" % call.a.uuid
    wait_for(lambda: len(h.commands(to_a)) == 2, what="the announcement to the new party")
    new.talk(seconds=2)
    new.hangup("a")
    h.wait_finalised()
    assert len(h.commands(r"^uuid_displace")) == first + 1
