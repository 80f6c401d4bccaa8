"""The call log's reasons are the decisions' own (issue 12): pure tables over leg state and policy, no I/O."""
from __future__ import annotations

import pytest

from callrec.policy import (AccountFacts, CodePair, CustomerFacts, ProductFacts, RecordingConfig, SettingsFacts,
                            resolve_policy)
from controller.decisions import (LogCall, NotRecorded, RecordingSettings, StartRecording, call_log_decisions,
                                  decide_bridge, decide_hangup, voicemail_reason, why_not_auto)
from controller.tracker import NOT_RECORDED, RECORDED, LegState, Tracker

SETTINGS = RecordingSettings()
CODES = CodePair("*44", "*45")


def policy(number, override=True, product="Basic", **flags):
    cfg = RecordingConfig(**{"enabled": True, **flags})
    return resolve_policy(AccountFacts(number, f"{number}@x", override, cfg, 1), ProductFacts(product, cfg),
                          CustomerFacts("c", "k", True), SettingsFacts(True, CODES))


@pytest.mark.parametrize(("flags", "override", "direction", "expected"), [
    ({"enabled": False}, False, "outgoing", ("recording_disabled", 'product "Basic" has recording disabled')),
    ({"enabled": False}, True, "incoming",
     ("recording_disabled", "account 1000's own configuration has recording disabled")),
    ({}, False, "incoming", ("incoming_off", 'incoming calls off: product "Basic" does not record incoming calls '
                                             "automatically")),
    ({"auto_record_incoming": True}, False, "redirected",
     ("redirected_off", 'redirected calls off: product "Basic" does not record redirected calls automatically')),
])
def test_why_a_call_is_not_auto_recorded_names_the_configuration_that_decided(flags, override, direction, expected):
    assert why_not_auto(policy("1000", override=override, **flags), direction) == expected


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"destination": "*98"}, "voicemail_retrieval"),
    ({"destination": "4000"}, "voicemail_retrieval"),
    ({"current_application": "voicemail"}, "voicemail_retrieval"),
    ({"current_application": "bridge", "current_application_data": "loopback/app=voicemail:default x 1001"},
     "voicemail_divert"),
    ({"channel_name": "loopback/voicemail-a"}, "voicemail_divert"),
    ({"destination": "1001"}, None),
])
def test_voicemail_calls_are_told_apart_as_retrieval_or_divert(kwargs, expected):
    leg = LegState(uuid="A", **kwargs)
    found = voicemail_reason(leg, SETTINGS.voicemail_numbers)
    assert (found[0] if found else None) == expected


def _legs():
    a = LegState(uuid="A", call_uuid="A", account="1000", account_direction="outgoing", known=True,
                 caller_number="1000", destination="1001")
    b = LegState(uuid="B", call_uuid="A", account="1001", account_direction="incoming", known=True)
    return a, b


def test_a_bridge_explains_every_account_leg_it_does_not_record_and_gives_each_start_its_reason():
    a, b = _legs()
    policies = {"1000": policy("1000", auto_record_outgoing=True), "1001": policy("1001", override=False)}
    decisions = decide_bridge(Tracker(), a, b, policies.get, SETTINGS, "/rec")
    (start,) = [d for d in decisions if isinstance(d, StartRecording)]
    (refusal,) = [d for d in decisions if isinstance(d, NotRecorded)]
    assert start.reason == "auto outgoing: account 1000's own configuration records outgoing calls automatically"
    assert (refusal.leg_uuid, refusal.account, refusal.code) == ("B", "1001", "incoming_off")


@pytest.mark.parametrize(("setup", "expected"), [
    (lambda a: None, ("never_connected", NOT_RECORDED)),
    (lambda a: setattr(a, "partner", "B"), ("no_rule", NOT_RECORDED)),
    (lambda a: (setattr(a, "voicemail", True), setattr(a, "destination", "*98")), ("voicemail_retrieval",
                                                                                     NOT_RECORDED)),
    (lambda a: a.explain("1000", "outgoing", RECORDED, "auto_outgoing", "auto outgoing"),
     ("auto_outgoing", RECORDED)),
])
def test_hangup_logs_the_leg_with_its_explanation_or_what_hangup_alone_tells(setup, expected):
    a, _ = _legs()
    setup(a)
    (log,) = call_log_decisions(a, {"1000": policy("1000")}.get, SETTINGS.voicemail_numbers, 5)
    assert (log.code, log.decision) == expected and (log.caller, log.ended_us) == ("1000", 5)


def test_legs_of_sip_users_that_are_not_accounts_are_not_logged():
    a, _ = _legs()
    assert call_log_decisions(a, {}.get, SETTINGS.voicemail_numbers) == []


def test_hangup_logs_before_it_finalises():
    a, b = _legs()
    policies = {"1000": policy("1000", auto_record_outgoing=True)}
    decide_bridge(Tracker(), a, b, policies.get, SETTINGS, "/rec")
    decisions = decide_hangup(a, policies.get, SETTINGS.voicemail_numbers)
    assert [type(d).__name__ for d in decisions] == ["LogCall", "Finalise"]
    assert isinstance(decisions[0], LogCall) and decisions[0].call_key == a.recordings["1000"].call_key


def test_a_recording_after_a_refusal_keeps_the_refusal_as_a_note_and_a_later_failure_does_not_undo_it():
    a, _ = _legs()
    a.explain("1000", "outgoing", NOT_RECORDED, "outgoing_off", "outgoing calls off")
    a.explain("1000", "outgoing", RECORDED, "manual", "manual: start code *44 pressed")
    a.explain("1000", "outgoing", NOT_RECORDED, "start_failed", "FreeSWITCH did not start the recording")
    entry = a.explained["1000"]
    assert (entry.decision, entry.reason) == (RECORDED, "manual: start code *44 pressed")
    assert entry.notes == ["not recorded at first: outgoing calls off", "FreeSWITCH did not start the recording"]


# ------------------------------------------------------------------------------ call control (REST API, Calls now)
@pytest.mark.parametrize(("flags", "account", "action", "prepare", "refusal"), [
    ({"manual_control": True}, "1000", "start", None, None),
    ({"manual_control": True}, "1000", "stop", None, "nothing is recording"),
    ({"manual_control": True}, "1000", "start", "recording", "already recording"),
    ({"manual_control": True}, "1000", "stop", "recording", None),
    ({"manual_control": False}, "1000", "start", None, "account 1000's own configuration has manual recording "
                                                       "control off"),
    ({"manual_control": True}, "1001", "start", None, "account 1001 is not on this call leg"),
    ({"manual_control": True}, "1000", "start", "voicemail", "a call to a voice mailbox is never recorded"),
    ({"manual_control": True}, "1000", "start", "gone", "the call leg is not in progress"),
    ({"manual_control": True}, "1000", "explode", None, "unknown action 'explode'"),
])
def test_remote_control_follows_the_rules_of_the_codes(flags, account, action, prepare, refusal):
    from controller.decisions import StopRecording, decide_remote

    tracker = Tracker()
    a, _ = _legs()
    p = policy(account, **flags)
    if prepare == "recording":
        decide_remote(tracker, a, "1000", "start", 1, p, SETTINGS, "/rec")
    elif prepare == "voicemail":
        a.voicemail = True
    elif prepare == "gone":
        a.hung_up = True
    decisions, why = decide_remote(tracker, a, account, action, 7, p, SETTINGS, "/rec")
    assert why == refusal
    if refusal is None:
        (decision,) = decisions
        assert isinstance(decision, StartRecording if action == "start" else StopRecording)
        assert decision.request_id == 7 and decision.reason == f"manual: {action} asked over the API (request 7)"
    else:
        assert decisions == []
