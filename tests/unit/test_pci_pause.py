"""PCI pause by DTMF (issue 12): the pause/resume codes mask and unmask the account's own running recording, and
the four codes are validated together. Pure: decisions as data, no I/O."""
from __future__ import annotations

import pytest

from callrec.policy import AccountFacts, CodePair, CustomerFacts, ProductFacts, RecordingConfig, SettingsFacts, \
    resolve_policy
from callrec.validation import code_set_errors
from controller.decisions import (Note, PauseRecording, RecordingSettings, RenderContext, ResumeRecording, SavePauses,
                                  StartRecording, StopRecording, close_pauses, decide_dtmf, feed_digit,
                                  render_command)
from controller.tracker import LegState, Tracker

ROOT = "/rec"
SETTINGS = RecordingSettings()
PCI = CodePair("*44", "*45", "*46", "*47")
SECOND = 1_000_000


def policy(number="1000", codes=PCI, **flags):
    cfg = RecordingConfig(**{"enabled": True, "manual_control": True, **flags})
    return resolve_policy(AccountFacts(number, f"{number}@x", True, cfg, 1), ProductFacts("p", RecordingConfig()),
                          CustomerFacts("c", "k", True), SettingsFacts(True, codes))


class Call:
    """Account 1000's leg A bridged to 1001's leg B; digits are pressed `at` seconds (event time)."""

    def __init__(self, a_policy=None, b_policy=None):
        self.tracker = Tracker()
        self.a = LegState(uuid="A", call_uuid="A", account="1000", account_direction="outgoing", known=True,
                          partner="B")
        self.b = LegState(uuid="B", call_uuid="A", account="1001", account_direction="incoming", known=True,
                          partner="A")
        self.policies = {"A": a_policy or policy("1000"), "B": b_policy or policy("1001")}

    def press(self, leg: LegState, code: str, at: float) -> list:
        out = []
        for i, digit in enumerate(code):
            now = int((at + 0.1 * i) * SECOND)
            out += decide_dtmf(self.tracker, leg, digit, now, self.policies[leg.uuid], SETTINGS, ROOT)
        return out


def test_pause_code_on_the_accounts_own_leg_masks_its_recording_in_the_same_file():
    call = Call()
    (start,) = call.press(call.a, "*44", 1)
    (pause,) = call.press(call.a, "*46", 3)
    assert isinstance(pause, PauseRecording)
    assert (pause.leg_uuid, pause.account, pause.path) == ("A", "1000", start.path)
    assert pause.pauses == ((int(3.2 * SECOND), 0),)  # from the code's last digit, open
    assert [c.text for c in render_command(pause, RenderContext("/s"))] == [f"uuid_record A mask {start.path}"]
    assert call.a.recordings["1000"].paused


def test_resume_code_unmasks_the_same_file_and_closes_the_interval():
    call = Call()
    (start,) = call.press(call.a, "*44", 1)
    call.press(call.a, "*46", 3)
    (resume,) = call.press(call.a, "*47", 6)
    assert isinstance(resume, ResumeRecording)
    assert resume.pauses == ((int(3.2 * SECOND), int(6.2 * SECOND)),)
    assert [c.text for c in render_command(resume, RenderContext("/s"))] == [f"uuid_record A unmask {start.path}"]
    (again,) = call.press(call.a, "*46", 8)  # a second pause is a second interval
    assert again.pauses == ((int(3.2 * SECOND), int(6.2 * SECOND)), (int(8.2 * SECOND), 0))


def test_the_other_legs_pause_code_never_pauses_this_accounts_recording():
    call = Call(b_policy=policy("1001", codes=PCI))
    call.press(call.a, "*44", 1)
    assert call.press(call.b, "*46", 2) == []  # 1001 has nothing recording on its own leg
    assert not call.a.recordings["1000"].paused
    # a party with no account at all
    call.b.account = None
    assert call.press(call.b, "*46", 4) == []
    assert not call.a.recordings["1000"].paused


@pytest.mark.parametrize("setup", ["never started", "stopped"])
def test_pause_while_not_recording_does_nothing(setup):
    call = Call()
    if setup == "stopped":
        call.press(call.a, "*44", 1)
        call.press(call.a, "*45", 2)
    assert call.press(call.a, "*46", 3) == []
    assert call.press(call.a, "*47", 4) == []
    rec = call.a.recordings.get("1000")
    assert rec is None or (not rec.paused and rec.pauses == ())


def test_pause_twice_or_resume_while_not_paused_does_nothing():
    call = Call()
    call.press(call.a, "*44", 1)
    assert call.press(call.a, "*47", 2) == []
    call.press(call.a, "*46", 3)
    assert call.press(call.a, "*46", 4) == []
    assert call.a.recordings["1000"].pauses == ((int(3.2 * SECOND), 0),)


def test_stop_while_paused_stops_without_unmasking_and_closes_the_interval():
    call = Call()
    call.press(call.a, "*44", 1)
    call.press(call.a, "*46", 3)
    stop, save = call.press(call.a, "*45", 5)
    assert isinstance(stop, StopRecording) and isinstance(save, SavePauses)
    assert save.pauses == ((int(3.2 * SECOND), int(5.2 * SECOND)),)
    assert render_command(save, RenderContext("/s")) == []  # no unmask: no audio slips in before the stop
    (start,) = call.press(call.a, "*44", 7)  # a new start records unmasked, same file
    assert isinstance(start, StartRecording) and start.resume and not call.a.recordings["1000"].paused


def test_hangup_while_paused_closes_the_interval_at_the_hangup():
    call = Call()
    call.press(call.a, "*44", 1)
    call.press(call.a, "*46", 3)
    rec = call.a.recordings["1000"]
    (save,) = close_pauses(rec, "A", 9 * SECOND)
    assert save.pauses == ((int(3.2 * SECOND), 9 * SECOND),)
    assert close_pauses(rec, "A", 10 * SECOND) == []  # closed once


@pytest.mark.parametrize(("codes", "flags"), [
    (CodePair("*44", "*45"), {}),                       # no pause codes: off, the default
    (PCI, {"manual_control": False, "auto_record_outgoing": True}),  # like start/stop, needs manual control
    (PCI, {"manual_control": True, "enabled": False}),
])
def test_pause_codes_do_nothing_when_pause_is_off_for_the_account(codes, flags):
    call = Call(a_policy=policy("1000", codes=codes, **flags))
    call.a.recordings.clear()
    from controller.decisions import _start
    _start(call.tracker, call.a, "1000", "outgoing", "auto", ROOT, "wav", ["A"])  # an auto recording runs
    # at most a line for the call log (the code pressed and why it did nothing), never a mask
    assert all(isinstance(d, Note) for d in call.press(call.a, "*46", 3))
    assert not call.a.recordings["1000"].paused


@pytest.mark.parametrize(("digits", "expected"), [
    ("*46", "pause"), ("*47", "resume"), ("*44", "start"), ("*4", None),
])
def test_pause_and_resume_codes_are_matched_like_start_and_stop(digits, expected):
    buffer, action = "", None
    for i, digit in enumerate(digits):
        buffer, action = feed_digit(buffer, i * 1000, digit, (i + 1) * 1000, 3000, PCI)
    assert action == expected


@pytest.mark.parametrize(("codes", "field", "words"), [
    (("*44", "*45", "", ""), None, None),                       # off, the default
    (("*44", "*45", "*46", "*47"), None, None),
    (("*44", "*45", "#1", "#2"), None, None),
    (("*44", "*45", "*46", ""), "record_resume_code", "both"),
    (("*44", "*45", "", "*47"), "record_pause_code", "both"),
    (("*44", "*45", "*4a", "*47"), "record_pause_code", "Only digits"),
    (("*44", "*45", "*46", "123456789"), "record_resume_code", "at most 8"),
    (("*44", "*45", "*44", "*47"), "record_pause_code", "differ from the start"),
    (("*44", "*45", "*46", "*45"), "record_resume_code", "differ from the stop"),
    (("*44", "*45", "*46", "*46"), "record_resume_code", "differ from the pause"),
    (("*44", "*45", "*4", "*47"), "record_pause_code", "prefix of another (the start"),
    (("*44", "*45", "*451", "*47"), "record_pause_code", "prefix of another (the stop"),
    (("*44", "*45", "*46", "*461"), "record_resume_code", "prefix of another (the pause"),
    (("*44", "*44", "*46", "*47"), "record_stop_code", "must differ"),  # the pair's own rules still apply
])
def test_pause_and_resume_codes_are_validated_with_the_start_and_stop_codes(codes, field, words):
    errors = code_set_errors(*codes)
    if field is None:
        assert errors == {}
    else:
        assert words in errors[field], errors
