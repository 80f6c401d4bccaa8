"""Recording decisions as data: tables over leg state and policy, no I/O."""
from __future__ import annotations

import pytest

from callrec.policy import AccountFacts, CodePair, CustomerFacts, ProductFacts, RecordingConfig, SettingsFacts, \
    resolve_policy
from controller.decisions import (Announce, Note, NotRecorded, RecordingSettings, RefuseRecording, RenderContext, StartRecording, StopRecording,
                                  decide_bridge, decide_dtmf, decide_foreign_recording, feed_digit, is_voicemail_leg,
                                  recording_path, render_command, safe_file_path)
from controller.tracker import LegState, Tracker

ROOT = "/rec"
SETTINGS = RecordingSettings()
CODES = CodePair("*44", "*45")


def policy(number, **flags):
    cfg = RecordingConfig(**{"enabled": True, **flags})
    return resolve_policy(AccountFacts(number, f"{number}@x", True, cfg, 1), ProductFacts("p", RecordingConfig()),
                          CustomerFacts("c", "k", True), SettingsFacts(True, CODES))


def starts(decisions):
    """The decisions that act (commands); NotRecorded and Note only explain, for the call log."""
    return [d for d in decisions if not isinstance(d, (NotRecorded, Note))]


def leg(uuid, account=None, direction=None, **kw):
    state = LegState(uuid=uuid, call_uuid=kw.pop("call_uuid", "A"), account=account, account_direction=direction,
                     known=True, channel_name=kw.pop("channel_name", f"sofia/internal/{account}@x"), **kw)
    return state


@pytest.mark.parametrize(("a_flags", "b_flags", "expected"), [
    ({"auto_record_outgoing": True}, {}, [("A", "1000", "outgoing")]),
    ({}, {"auto_record_incoming": True}, [("B", "1001", "incoming")]),
    ({"auto_record_outgoing": True}, {"auto_record_incoming": True},
     [("A", "1000", "outgoing"), ("B", "1001", "incoming")]),
    ({"auto_record_incoming": True}, {"auto_record_outgoing": True}, []),
    ({"auto_record_outgoing": True, "enabled": False}, {}, []),
])
def test_bridge_auto_records_each_account_on_its_own_leg_by_its_own_policy(a_flags, b_flags, expected):
    policies = {"1000": policy("1000", **a_flags), "1001": policy("1001", **b_flags)}
    tracker = Tracker()
    a, b = leg("A", "1000", "outgoing"), leg("B", "1001", "incoming")
    decisions = decide_bridge(tracker, a, b, policies.get, SETTINGS, ROOT)
    assert [(d.leg_uuid, d.account, d.direction) for d in starts(decisions)] == expected
    # every account leg not started is explained
    assert {d.leg_uuid for d in decisions if isinstance(d, NotRecorded)} == {"A", "B"} - {e[0] for e in expected}
    assert starts(decide_bridge(tracker, a, b, policies.get, SETTINGS, ROOT)) == []  # a re-bridge starts nothing


@pytest.mark.parametrize("b_kwargs", [
    {"channel_name": "loopback/voicemail-a"},
    {"destination": "*98"},
])
def test_voicemail_bridges_are_recorded_for_nobody(b_kwargs):
    policies = {"1000": policy("1000", auto_record_outgoing=True)}
    a = leg("A", "1000", "outgoing")
    b = leg("B", **b_kwargs)
    assert starts(decide_bridge(Tracker(), a, b, policies.get, SETTINGS, ROOT)) == []
    assert a.voicemail


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"destination": "*98"}, True), ({"destination": "vmain"}, True), ({"destination": "4000"}, True),
    ({"current_application": "voicemail"}, True),
    ({"current_application": "bridge", "current_application_data": "loopback/app=voicemail:default x 1001"}, True),
    ({"destination": "1001", "current_application": "bridge", "current_application_data": "user/1001@x"}, False),
])
def test_voicemail_classification(kwargs, expected):
    assert is_voicemail_leg(leg("X", "1000", "outgoing", **kwargs), SETTINGS.voicemail_numbers) is expected


@pytest.mark.parametrize(("events", "timeout_ms", "expected"), [
    ([("*", 0), ("4", 100), ("4", 200)], 3000, "start"),
    ([("*", 0), ("4", 100), ("5", 200)], 3000, "stop"),
    ([("*", 0), ("4", 2000), ("4", 4000)], 3000, "start"),       # each gap inside the timeout
    ([("*", 0), ("4", 100), ("4", 3200)], 3000, None),            # the last digit came too late
    ([("1", 0), ("*", 100), ("4", 200), ("4", 300)], 3000, "start"),
    ([("*", 0), ("4", 100)], 3000, None),
])
def test_code_matching_with_an_inter_digit_timeout(events, timeout_ms, expected):
    buffer, last, action = "", 0, None
    for digit, ms in events:
        buffer, action = feed_digit(buffer, last, digit, 1_000_000 + ms * 1000, timeout_ms, CODES)
        last = 1_000_000 + ms * 1000
    assert action == expected


def test_manual_stop_then_start_continues_the_same_file():
    tracker = Tracker()
    p = policy("1000", manual_control=True)
    a = leg("A", "1000", "outgoing")
    t = [0]

    def press(code):
        out = []
        for d in code:
            t[0] += 100_000
            out += decide_dtmf(tracker, a, d, t[0], p, SETTINGS, ROOT)
        return out

    (start,) = press("*44")
    a.recordings["1000"].confirmed = True
    (stop,) = press("*45")
    (again,) = press("*44")
    assert isinstance(start, StartRecording) and isinstance(stop, StopRecording)
    assert again.resume and again.path == start.path == stop.path
    assert starts(press("*44")) == []  # already recording


def test_codes_do_nothing_without_manual_control_or_on_an_external_leg():
    tracker = Tracker()
    a = leg("A", "1000", "outgoing")
    p = policy("1000", manual_control=False)
    assert starts([d for digit in "*44" for d in decide_dtmf(tracker, a, digit, 1, p, SETTINGS, ROOT)]) == []
    ext = leg("E")
    assert [d for digit in "*44" for d in decide_dtmf(tracker, ext, digit, 1, None, SETTINGS, ROOT)] == []


@pytest.mark.parametrize(("manual", "phone_key", "expected"), [
    (True, True, "AdoptRecording"),
    (False, True, "RefuseRecording"),
])
def test_the_phones_record_key_is_adopted_or_refused_by_policy(manual, phone_key, expected):
    a = leg("A", "1000", "outgoing")
    p = policy("1000", manual_control=manual)
    (decision,) = decide_foreign_recording(Tracker(), a, "/fs/1000.wav", phone_key, p, False)
    assert type(decision).__name__ == expected


def test_voicemails_own_recording_is_left_alone():
    a = leg("VM", None, None, current_application="voicemail")
    assert decide_foreign_recording(Tracker(), a, "/vm/msg.wav", False, None, False) == []


def test_blind_transfer_is_recorded_for_the_former_partner_account():
    tracker = Tracker()
    policies = {"1001": policy("1001", auto_record_redirected=True)}
    a, b = tracker.leg("A"), tracker.leg("B")
    for state, account, direction in ((a, "1000", "outgoing"), (b, "1001", "incoming")):
        state.account, state.account_direction, state.known = account, direction, True
    decide_bridge(tracker, a, b, policies.get, SETTINGS, ROOT)
    b.transfer_marker = True
    tracker.hangup("B", 0.0)
    a.unbridge()
    c = tracker.leg("C")
    c.account, c.account_direction, c.known = "1002", "incoming", True
    (decision,) = decide_bridge(tracker, a, c, policies.get, SETTINGS, ROOT)
    assert (decision.leg_uuid, decision.account, decision.direction, decision.call_key) == \
        ("A", "1001", "redirected", "C")


def test_record_command_rendering():
    start = StartRecording("L", "C", "1000", "outgoing", "auto", "/rec/2026/01/02/C_1000.wav", announce_to=("L", "P"))
    record, to_l, to_p = render_command(start, RenderContext(sounds_dir="/snd", limit_seconds=0))
    assert record.text == ("uuid_record L start /rec/2026/01/02/C_1000.wav 0 {RECORD_STEREO=true,RECORD_APPEND=true,"
                           "record_sample_rate=8000,callrec_account=1000,callrec_call=C,callrec_trigger=auto}")
    assert to_l.text == "uuid_displace L start /snd/callrec/call-recording-started.wav 0 rm"
    assert to_p.text == "uuid_displace P start /snd/callrec/call-recording-started.wav 0 rm"
    assert not to_l.required and not to_p.required
    stop, stop_l = render_command(StopRecording("L", "1000", "/x.wav", announce_to=("L",)), RenderContext("/snd"))
    assert stop.text == "uuid_record L stop /x.wav"
    assert stop_l.text == "uuid_displace L start /snd/callrec/call-recording-stopped.wav 0 rm"
    (refuse_setvar, refuse_stop) = render_command(RefuseRecording("L", "1000", "/x.wav", "no"), RenderContext("/s"))
    assert refuse_setvar.text == "uuid_setvar L sip_disable_recording true"


@pytest.mark.parametrize(("a_flags", "b_flags", "announced_by"), [
    ({"auto_record_outgoing": True, "announcement": True}, {"auto_record_incoming": True, "announcement": True}, "B"),
    ({"auto_record_outgoing": True, "announcement": True}, {"auto_record_incoming": True}, "B"),
    ({"auto_record_outgoing": True}, {"auto_record_incoming": True}, None),
    ({"auto_record_outgoing": True, "announcement": True}, {}, "A"),
])
def test_one_bridge_announces_once_to_both_parties_whatever_number_of_recordings_it_starts(a_flags, b_flags,
                                                                                            announced_by):
    policies = {"1000": policy("1000", **a_flags), "1001": policy("1001", **b_flags)}
    a, b = leg("A", "1000", "outgoing"), leg("B", "1001", "incoming")
    decisions = starts(decide_bridge(Tracker(), a, b, policies.get, SETTINGS, ROOT))
    announcing = [d for d in decisions if d.announce_to]
    if announced_by is None:
        assert announcing == []
    else:
        (last,) = announcing
        assert (last.leg_uuid, last.announce_to) == (announced_by, ("A", "B"))
        assert decisions[-1] is last  # after every uuid_record of the bridge


@pytest.mark.parametrize("announcement", [True, False])
def test_a_new_party_after_a_transfer_hears_the_announcement_of_a_recording_that_goes_on(announcement):
    policies = {"1000": policy("1000", auto_record_outgoing=True, announcement=announcement)}
    tracker = Tracker()
    a, b = tracker.leg("A"), tracker.leg("B")
    for state, account, direction in ((a, "1000", "outgoing"), (b, "1001", "incoming")):
        state.account, state.account_direction, state.known = account, direction, True
    decide_bridge(tracker, a, b, policies.get, SETTINGS, ROOT)
    a.unbridge()
    c = tracker.leg("C")
    c.known = True
    decisions = decide_bridge(tracker, a, c, policies.get, SETTINGS, ROOT)
    announces = [d for d in decisions if isinstance(d, Announce)]
    # mixed into the recorded leg's audio: the new party hears it, the recorded party does not hear it again
    assert announces == ([Announce("A", ("A",))] if announcement else [])
    assert [d for d in decide_bridge(tracker, a, c, policies.get, SETTINGS, ROOT) if isinstance(d, Announce)] == []


def test_manual_start_announces_to_the_pressing_account_and_its_partner():
    policies = {"1000": policy("1000", manual_control=True, announcement=True)}
    a = leg("A", "1000", "outgoing", partner="B")
    decisions = []
    for i, digit in enumerate("*44"):
        decisions += decide_dtmf(Tracker(), a, digit, 1_000 * i, policies["1000"], SETTINGS, ROOT)
    (start,) = decisions
    assert start.announce_to == ("A", "B")


@pytest.mark.parametrize(("path", "safe"), [
    ("/var/lib/freeswitch/recordings/1000.127.0.0.1.2026-12-05-10-00-00.wav", True),
    ("/rec/+15551234567.example.com.wav", True),
    ("/rec/1000\n\nbgapi status\n\napi version.x.wav", False),
    ("/rec/a b.wav", False),
    ("/rec/{x=1}a.wav", False),
    ("/rec/../etc/passwd", False),
    ("relative/path.wav", False),
    ("", False),
])
def test_only_plain_absolute_file_paths_from_events_may_reach_a_command(path, safe):
    assert safe_file_path(path) is safe


def test_an_unsafe_record_key_path_is_neither_adopted_nor_refused_with_a_command():
    a = leg("A", "1000", "outgoing")
    hostile = "/rec/1000\n\nbgapi status.wav"
    for manual in (True, False):
        pol = policy("1000", manual_control=manual)
        assert decide_foreign_recording(Tracker(), a, hostile, True, pol, True) == []
    assert a.foreign[hostile] == "unsafe" and a.recordings == {}


def test_recording_path_is_dated_by_the_leg_and_safe():
    assert recording_path("/rec/", "abc", "+1 00/0", 1_767_225_600_000_000) == "/rec/2026/01/01/abc_+1_00_0.wav"
