"""PCI pause on the emulator: the controller masks and unmasks the account's own recording by its pause/resume
codes, the file holds silence while paused and the party's audio before and after, and the intervals are stored."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.fakeswitch import audio

PCI = ("*44", "*45", "*46", "*47")


def _call(h, caller="1000", callee="1001"):
    call = h.fs.call_user_to_user(caller, callee)
    call.answer()
    h.settle()
    return call


def _seconds(interval):
    return (datetime.fromisoformat(interval["resumed_at"]) - datetime.fromisoformat(interval["paused_at"])) \
        .total_seconds()


def _level(path, party, start, seconds, channel=0):
    return audio.tone_level(path, audio.party_frequency(party), channel=channel, start=start, seconds=seconds)


def test_pause_on_the_accounts_own_leg_masks_the_same_file_until_resumed_and_stores_the_interval(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, manual_control=True, codes=PCI)
    h.start()
    call = _call(h)
    start = h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    path = start.line.split()[3]
    call.talk(seconds=2)
    call.dtmf("a", "*46")
    h.settle()
    assert h.wait_command(r"^uuid_record %s mask " % call.a.uuid).line.split()[3] == path
    call.talk(seconds=3)
    call.dtmf("a", "*47")
    h.settle()
    assert h.wait_command(r"^uuid_record %s unmask " % call.a.uuid).line.split()[3] == path
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.status, rec.file_path) == ("completed", path)
    (interval,) = rec.paused_intervals
    assert 2.5 < _seconds(interval) < 3.5
    for channel, party in ((0, "1000"), (1, "1001")):
        assert _level(path, party, 0.2, 1.5, channel) > 0.5, "the party before the pause"
        assert audio.tone_level(path, audio.party_frequency(party), channel, 2.3, 2.4) == 0.0, "silence while paused"
        assert _level(path, party, 5.3, 1.5, channel) > 0.5, "the party after the resume"
    assert len(h.commands(r"^uuid_record %s start" % call.a.uuid)) == 1  # one file, never restarted


def test_the_other_partys_pause_code_never_masks_this_accounts_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, manual_control=True, codes=PCI)
    h.account("1001", enabled=True, manual_control=True, codes=PCI)  # same codes, nothing recording on its leg
    h.start()
    call = _call(h)
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.talk(seconds=1)
    call.dtmf("b", "*46")
    call.talk(seconds=1)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert h.commands(r"^uuid_record \S+ (un)?mask") == []
    assert rec.paused_intervals == []


@pytest.mark.parametrize("ending", ["stop code", "hangup"])
def test_a_recording_stopped_or_hung_up_while_paused_keeps_the_pause_to_its_end(h, ending):
    h.account("1000", enabled=True, manual_control=True, codes=PCI)
    h.start()
    call = _call(h)
    call.dtmf("a", "*44")
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.talk(seconds=1)
    call.dtmf("a", "*46")
    h.settle()
    h.wait_command(r"^uuid_record %s mask " % call.a.uuid)
    call.talk(seconds=2)
    if ending == "stop code":
        call.dtmf("a", "*45")
        h.settle()
        h.wait_command(r"^uuid_record %s stop " % call.a.uuid)
        call.talk(seconds=1)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert h.commands(r"^uuid_record %s unmask" % call.a.uuid) == []  # never unmasked: no audio slips in
    (interval,) = rec.paused_intervals
    assert interval["resumed_at"] is not None and 1.5 < _seconds(interval) < 2.5


def test_pause_codes_do_nothing_when_the_account_has_none(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, manual_control=True)  # *44/*45 only: off
    h.start()
    call = _call(h)
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.dtmf("a", "*46")
    call.talk(seconds=1)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert h.commands(r"^uuid_record \S+ mask") == [] and rec.paused_intervals == []


def test_a_controller_restarted_while_paused_still_unmasks_on_the_resume_code(h):
    """The pause state is rebuilt from the row's open interval at the resync: the file stays masked across the
    restart and the resume code pressed afterwards unmasks it and closes that same interval."""
    from tests.integration.controller_harness import wait_for

    h.account("1000", enabled=True, auto_record_outgoing=True, manual_control=True, codes=PCI)
    h.start()
    call = _call(h)
    path = h.wait_command(r"^uuid_record %s start" % call.a.uuid).line.split()[3]
    call.talk(seconds=1)
    call.dtmf("a", "*46")
    h.settle()
    h.wait_command(r"^uuid_record %s mask " % call.a.uuid)
    h.controller.stop()
    h.start()
    wait_for(lambda: h.controller.resync.runs == 1, 5, "the resync")
    h.settle()
    call.talk(seconds=2)
    call.dtmf("a", "*47")
    h.settle()
    assert h.wait_command(r"^uuid_record %s unmask " % call.a.uuid).line.split()[3] == path
    call.talk(seconds=1)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    (interval,) = rec.paused_intervals
    assert 1.5 < _seconds(interval) < 2.5
    assert audio.tone_level(path, audio.party_frequency("1000"), 0, 1.1, 1.8) == 0.0
    assert _level(path, "1000", 3.2, 0.7) > 0.5
