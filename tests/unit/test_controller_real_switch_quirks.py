"""DESIGN §3: facts about real FreeSWITCH the controller must live with, one test per rule (pure: headers -> facts
-> tracker -> decisions, no I/O). Header values are as FreeSWITCH 1.10 sends them (see the captures under
/work/shared/freeswitch/captures and tests/integration/test_controller_real_capture.py for the replayed ones)."""
from __future__ import annotations

import pytest

from callrec.policy import AccountFacts, CodePair, CustomerFacts, ProductFacts, RecordingConfig, SettingsFacts, \
    resolve_policy
from controller.decisions import (AdoptRecording, RecordingSettings, RefuseRecording, RenderContext, StartRecording,
                                  decide_bridge, decide_conference, decide_dtmf, decide_foreign_recording,
                                  find_redirector, render_command)
from controller.esl import EventHeaders
from controller.facts import event_time_us, leg_facts, record_facts, transfer_marks
from controller.tracker import Tracker

ROOT = "/rec"
SETTINGS = RecordingSettings()
BL_XFER = "1396984221:caefc538-5da4-4245-8716-112c706383d8:bl_xfer:1002/default/XML"  # cgrates capture


def policy(number, codes=("*44", "*45"), **flags):
    cfg = RecordingConfig(**{"enabled": True, **flags})
    return resolve_policy(AccountFacts(number, f"{number}@x", True, cfg, 1), ProductFacts("p", RecordingConfig()),
                          CustomerFacts("c", "k", True), SettingsFacts(True, CodePair(*codes)))


def inbound(uuid, user=None, dest="1001", **variables):
    """A leg FreeSWITCH received (from a registered user when `user`, else from outside)."""
    h = {"Unique-ID": uuid, "Channel-Call-UUID": uuid, "Call-Direction": "inbound",
         "Channel-Name": f"sofia/internal/{user or 'ext'}@127.0.0.1", "Caller-Destination-Number": dest,
         "Caller-Channel-Created-Time": "1795627207483190", "variable_current_application": "bridge"}
    if user:
        h["variable_user_name"] = user
    h.update({f"variable_{k}": v for k, v in variables.items()})
    return h


def outbound(uuid, user, call_uuid, dest=None, **variables):
    """A `user/NNNN` leg FreeSWITCH originated."""
    h = {"Unique-ID": uuid, "Channel-Call-UUID": call_uuid, "Call-Direction": "outbound",
         "Channel-Name": f"sofia/internal/{user}@127.0.0.1:5070", "Caller-Destination-Number": dest or user,
         "Caller-Channel-Created-Time": "1795627217503194", "variable_dialed_user": user,
         "variable_originator": call_uuid}
    h.update({f"variable_{k}": v for k, v in variables.items()})
    return h


def bridge(tracker, a, b, policies):
    return decide_bridge(tracker, tracker.get(a), tracker.get(b), policies.get, SETTINGS, ROOT)


def redirected(decisions):
    return [(d.leg_uuid, d.account) for d in decisions if isinstance(d, StartRecording) and d.direction == "redirected"]


# --------------------------------------------------------------------------------------------- redirects
def test_public_to_default_transfer_of_every_outside_call_is_not_a_redirect():
    """An outside call arrives in `public` and is `transfer`red to `default`: it carries Caller-RDNIS and a bl_xfer
    transfer_source/transfer_history for its whole life. Bridged to 1001, then (1001 hung up normally) to 1002 —
    e.g. a queue — nobody redirected it."""
    tracker = Tracker()
    policies = {n: policy(n, auto_record_redirected=True) for n in ("1001", "1002")}
    ext = inbound("X", None, "1001", transfer_source=BL_XFER, transfer_history="ARRAY::" + BL_XFER)
    ext["Caller-RDNIS"] = "1001"
    tracker.observe(leg_facts(ext))
    tracker.observe(leg_facts(outbound("B1", "1001", "X")))
    assert redirected(bridge(tracker, "X", "B1", policies)) == []
    tracker.observe(leg_facts({**ext, "Hangup-Cause": "NORMAL_CLEARING"}))  # CHANNEL_UNBRIDGE still shows it
    tracker.get("X").unbridge()
    tracker.observe(leg_facts({**outbound("B1", "1001", "B1"), "Hangup-Cause": "NORMAL_CLEARING"}))
    tracker.hangup("B1", 0.0)
    tracker.observe(leg_facts(outbound("B2", "1002", "X")))
    assert redirected(bridge(tracker, "X", "B2", policies)) == []


def test_refer_marks_transferor_and_transferee_and_records_for_the_transferor():
    """REFER: the transferor's leg gets endpoint_disposition=BLIND_TRANSFER and transfer_to, the transferee's
    sip_refer_to and sip_h_Referred-By; the transferee then bridges to the new party."""
    tracker = Tracker()
    policies = {"1001": policy("1001", auto_record_redirected=True)}
    tracker.observe(leg_facts(inbound("A", None, "1001", transfer_source=BL_XFER)))
    tracker.observe(leg_facts(outbound("B", "1001", "A", endpoint_disposition="ANSWER")))
    bridge(tracker, "A", "B", policies)
    tracker.observe(leg_facts(outbound("B", "1001", "A", endpoint_disposition="BLIND_TRANSFER",
                                       transfer_to="blind:1002")))
    tracker.observe(leg_facts(inbound("A", None, "1001", transfer_source=BL_XFER,
                                      sip_refer_to="<sip:1002@127.0.0.1>",
                                      **{"sip_h_Referred-By": "<sip:1001@127.0.0.1>"})))
    tracker.get("A").unbridge()
    tracker.hangup("B", 0.0)
    tracker.observe(leg_facts(outbound("C", "1002", "A")))
    assert redirected(bridge(tracker, "A", "C", policies)) == [("A", "1001")]


def test_att_xfer_final_bridge_with_inverted_roles_is_recorded_for_the_gone_transferor():
    """att_xfer: 1001 (B-leg of 1000's call) consults 1002; FreeSWITCH rewrites 1001's dialed_user to 1002 during
    the consult; the final bridge comes from uuid_bridge with the roles inverted (the new party's leg is A),
    the caller's leg shows the new party's Caller-ID, and the final leg has att_xfer_result=success and
    originator naming the transferor's leg, gone by then."""
    tracker = Tracker()
    policies = {"1001": policy("1001", auto_record_redirected=True), "1000": policy("1000")}
    tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    tracker.observe(leg_facts(outbound("T", "1001", "A")))
    bridge(tracker, "A", "T", policies)
    tracker.observe(leg_facts(outbound("T", "1002", "A")))  # dialed_user rewritten during the consult
    assert tracker.get("T").account == "1001", "a leg keeps the identity it was first given"
    tracker.observe(leg_facts(outbound("C", "1002", "T")))
    tracker.get("A").unbridge()
    tracker.hangup("T", 0.0)
    caller = inbound("A", "1000", "1001")
    caller["Caller-Caller-ID-Number"] = "1002"           # shows the new party's Caller-ID
    tracker.observe(leg_facts(caller))
    tracker.observe(leg_facts(outbound("C", "1002", "T", att_xfer_result="success", originator="T")))
    decisions = bridge(tracker, "C", "A", policies)      # inverted: the new party's leg is Bridge-A
    assert redirected(decisions) == [("C", "1001")]
    assert tracker.get("A").account == "1000" and tracker.get("C").account == "1002"


def test_forward_from_the_dialplan_carries_diversion_and_names_the_forwarding_account():
    tracker = Tracker()
    policies = {"1001": policy("1001", auto_record_redirected=True)}
    div = "<sip:1001@127.0.0.1>;reason=unconditional"
    tracker.observe(leg_facts(inbound("A", "1000", "1001", sip_h_Diversion=div)))
    b = outbound("B", "1002", "A", sip_h_Diversion=div)
    assert "Caller-RDNIS" not in b
    tracker.observe(leg_facts(b))
    assert redirected(bridge(tracker, "A", "B", policies)) == [("A", "1001")]


@pytest.mark.parametrize("copied_to_b_leg", [False, True])
def test_a_diversion_the_callers_own_phone_sent_makes_nobody_a_redirecting_party(copied_to_b_leg):
    """The caller's phone (or carrier) sent `Diversion: <sip:1001@...>`; mod_sofia copies the A-leg's sip_h_*
    variables onto the B-leg it originates, so the B-leg may carry it too. The caller dialed 1002, not 1001."""
    tracker = Tracker()
    policies = {"1001": policy("1001", auto_record_redirected=True)}
    div = "<sip:1001@carrier.example>;reason=no-answer"
    tracker.observe(leg_facts(inbound("A", None, "1002", sip_h_Diversion=div)))
    tracker.observe(leg_facts(outbound("B", "1002", "A", **({"sip_h_Diversion": div} if copied_to_b_leg else {}))))
    assert redirected(bridge(tracker, "A", "B", policies)) == []


# ---------------------------------------------------------------------------------------------- legs
def test_b_leg_of_user_gets_record_stereo_only_after_the_bridge_so_the_command_carries_it():
    start = StartRecording("B", "A", "1001", "incoming", "auto", "/rec/x.wav")
    (record,) = render_command(start, RenderContext(sounds_dir="/snd", stereo=True))
    assert "RECORD_STEREO=true" in record.text


def test_dtmf_events_carry_no_variables_so_the_leg_is_known_from_earlier_events():
    tracker = Tracker()
    tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    dtmf = {"Unique-ID": "A", "Channel-Call-UUID": "A", "Call-Direction": "inbound", "DTMF-Digit": "1",
            "Channel-Name": "sofia/internal/1000@127.0.0.1", "Event-Date-Timestamp": "1795627222723219"}
    facts = leg_facts(dtmf)
    assert not facts.has_variables and facts.account is None
    leg = tracker.observe(facts)
    assert (leg.account, leg.account_direction) == ("1000", "outgoing")


def test_b_legs_channel_call_uuid_names_the_a_leg_only_while_bridged_and_the_call_key_keeps_it():
    tracker = Tracker()
    tracker.observe(leg_facts(outbound("B", "1001", "B")))     # CHANNEL_OUTGOING: its own uuid
    tracker.observe(leg_facts(outbound("B", "1001", "A")))     # CHANNEL_ANSWER while bridging: the A-leg's
    tracker.observe(leg_facts(outbound("B", "1001", "B")))     # HANGUP_COMPLETE after the unbridge: its own again
    assert tracker.get("B").call_uuid == "A"


def test_duplicate_headers_first_occurrence_wins():
    raw = b"Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: A\nHangup-Cause: NORMAL_CLEARING\n" \
          b"variable_x: 1\nHangup-Cause: BLIND_TRANSFER\n\n"
    assert EventHeaders(raw).get("Hangup-Cause") == "NORMAL_CLEARING"
    assert transfer_marks(EventHeaders(raw)) == frozenset()


def test_undef_values_are_empty():
    """FreeSWITCH serialises an empty value as `_undef_`: it never names an account or a redirecting party."""
    h = inbound("A", "1000", callrec_account="_undef_", callrec_redirected_by="_undef_", sofia_record_file="_undef_")
    facts = leg_facts(h)
    assert (facts.account, facts.explicit_account, facts.redirected_by) == ("1000", False, None)
    assert leg_facts(outbound("B", "_undef_", "A")).account is None
    assert record_facts({"Record-File-Path": "_undef_", "variable_sofia_record_file": "_undef_"}).phone_key is False


def test_array_variables_are_read_as_their_latest_value():
    """A variable pushed twice serialises as `ARRAY::a|:b`; several Diversion headers: the topmost is the latest."""
    assert leg_facts(inbound("A", "1000", callrec_account="ARRAY::1001|:1000")).account == "1000"
    b = leg_facts(outbound("B", "1002", "A", sip_h_Diversion="ARRAY::<sip:1001@x>;reason=user-busy|:<sip:1009@x>"))
    assert b.diversion_user == "1001"


def test_recv_info_without_the_record_header_changes_nothing():
    """The phone's Record key is seen only as a RECORD_START: the RECV_INFO after it has no `Record:` header."""
    tracker = Tracker()
    tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    info = {"Event-Name": "RECV_INFO", "Unique-ID": "A", "SIP-Content-Type": "_undef_", "SIP-From-User": "1000"}
    leg = tracker.observe(leg_facts(info))
    assert (leg.account, leg.recordings) == ("1000", {})


def test_header_values_with_encoded_newlines_percent_and_non_ascii_are_decoded_per_value():
    raw = ("Unique-ID: A\nCaller-Caller-ID-Name: J%C3%BCrgen%20100%25%0Avariable_user_name%3A%201001\n"
           "Call-Direction: inbound\nvariable_user_name: 1000\n\n").encode()
    headers = EventHeaders(raw)
    assert headers.get("Caller-Caller-ID-Name") == "Jürgen 100%\nvariable_user_name: 1001"
    assert leg_facts(headers).account == "1000"


def test_event_date_timestamp_is_in_microseconds_for_the_inter_digit_timeout():
    """The capture's digits `1`, `5` are 600 ms apart (1795627222723219 -> 1795627223323191 µs)."""
    p = policy("1000", codes=("15", "#9"), manual_control=True)
    for gap_us, started in ((1795627223323191 - 1795627222723219, True), (3_500_000, False)):
        tracker = Tracker()
        leg = tracker.observe(leg_facts(inbound("A", "1000", "1001")))
        t0 = event_time_us({"Event-Date-Timestamp": "1795627222723219"})
        assert decide_dtmf(tracker, leg, "1", t0, p, SETTINGS, ROOT) == []
        assert bool(decide_dtmf(tracker, leg, "5", t0 + gap_us, p, SETTINGS, ROOT)) is started


# --------------------------------------------------------------------------------------------- recordings
@pytest.mark.parametrize("manual_control", [True, False])
def test_a_recording_neither_ours_nor_the_phones_record_key_is_left_alone(manual_control):
    """Another ESL client's uuid_record, the stock `*2` record_session, a compliance recorder: not ours to stop,
    not ours to mail."""
    tracker = Tracker()
    leg = tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    p = policy("1000", manual_control=manual_control)
    assert decide_foreign_recording(tracker, leg, "/var/lib/freeswitch/recordings/x.wav", False, p, False) == []
    assert leg.recordings == {}


@pytest.mark.parametrize(("manual_control", "expected"), [(True, AdoptRecording), (False, RefuseRecording)])
def test_the_phones_record_key_is_adopted_or_refused(manual_control, expected):
    tracker = Tracker()
    leg = tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    facts = record_facts({"Unique-ID": "A", "Record-File-Path": "/r/1000.wav",
                          "variable_sofia_record_file": "/r/1000.wav"})
    assert facts.phone_key and not facts.ours
    (decision,) = decide_foreign_recording(tracker, leg, facts.path, facts.phone_key,
                                           policy("1000", manual_control=manual_control), False)
    assert isinstance(decision, expected)


def test_hold_music_and_broadcasts_never_start_a_second_recording():
    tracker = Tracker()
    policies = {"1000": policy("1000", auto_record_outgoing=True)}
    tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    tracker.observe(leg_facts(outbound("B", "1001", "A")))
    assert len(bridge(tracker, "A", "B", policies)) == 1
    tracker.observe(leg_facts(inbound("A", "1000", "1001", current_application="playback")))
    assert bridge(tracker, "A", "B", policies) == []


# --------------------------------------------------------------------------------------------- conference
def test_an_account_calling_a_conference_is_an_outgoing_call_and_auto_recorded():
    tracker = Tracker()
    leg = tracker.observe(leg_facts(inbound("A", "1000", "3000", current_application="conference")))
    (start,) = decide_conference(tracker, leg, policy("1000", auto_record_outgoing=True), SETTINGS, ROOT)
    assert (start.leg_uuid, start.account, start.direction) == ("A", "1000", "outgoing")
    assert decide_conference(tracker, leg, policy("1000", auto_record_outgoing=True), SETTINGS, ROOT) == []


def test_a_conference_that_dials_an_account_out_is_its_incoming_call():
    tracker = Tracker()
    leg = tracker.observe(leg_facts(outbound("B", "1001", "B")))
    (refusal,) = decide_conference(tracker, leg, policy("1001", auto_record_outgoing=True), SETTINGS, ROOT)
    assert (refusal.code, refusal.account) == ("incoming_off", "1001")  # not started: explained for the call log
    (start,) = decide_conference(tracker, leg, policy("1001", auto_record_incoming=True), SETTINGS, ROOT)
    assert start.direction == "incoming"


def test_a_conference_reached_through_a_voicemail_number_is_never_recorded():
    tracker = Tracker()
    leg = tracker.observe(leg_facts(inbound("A", "1000", "*98")))
    assert decide_conference(tracker, leg, policy("1000", auto_record_outgoing=True), SETTINGS, ROOT) == []


def test_find_redirector_is_none_for_a_plain_call():
    tracker = Tracker()
    a = tracker.observe(leg_facts(inbound("A", "1000", "1001")))
    b = tracker.observe(leg_facts(outbound("B", "1001", "A")))
    assert find_redirector(tracker, a, b) is None
