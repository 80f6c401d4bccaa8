"""Manual start/stop codes, a controller restart mid-call, and how much of the call's start a recording misses,
on a real FreeSWITCH with real SIP phones (RFC 4733 DTMF in each phone's own RTP stream)."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .conftest import FIGURES, PHONES, wait_until
from .media import Keys, Recording, load_reference, ramp, ramp_time
from .sip import AwaitHangup, Hangup, Pause
from .test_live_recording import ALL_AUTO, call_uuid_of, file_of, ids

MANUAL = dict(manual_control=True, announcement=True)


def talk(phones, caller, callee, seconds, caller_keys=(), callee_keys=(), number=None):
    answer = phones(callee).answer([AwaitHangup()], keys=callee_keys, talk=seconds + 10)
    call = phones(caller).call(number or callee, [Pause(seconds), Hangup()], keys=caller_keys, talk=seconds + 10)
    call.wait(seconds + 30)
    answer.wait(30)


def new_rows(product, seen, number):
    return [r for r in product.recordings() if r["id"] not in seen and r["account_number"] == number]


@pytest.mark.parametrize(("presser", "recorded"), [("1000", True), ("1001", False)], ids=["own-leg", "other-leg"])
def test_start_and_stop_codes_count_only_on_the_accounts_own_leg(product, phones, presser, recorded):
    product.set_policy("1000", **MANUAL)
    product.set_policy("1001")  # the other party has no manual control of anything
    seen = ids(product)
    keys = (Keys(1.0, "*44"), Keys(4.0, "*45"))
    hangups = product.events("CHANNEL_HANGUP_COMPLETE")
    talk(phones, "1000", "1001", 6.5, caller_keys=keys if presser == "1000" else (),
         callee_keys=keys if presser == "1001" else ())
    wait_until("both hangups handled", lambda: product.events("CHANNEL_HANGUP_COMPLETE") >= hangups + 2, 10)
    if not recorded:
        assert new_rows(product, seen, "1000") == []
        return
    (row,) = product.finished_recordings(call_uuid_of(product, "1000", seen), 1)
    assert (row["account_number"], row["trigger"], row["status"]) == ("1000", "manual", "completed")
    wav = file_of(product, row)
    # *44 ends ~1.6 s after answer, *45 ~4.6 s: about 3 s between the codes
    assert 2.0 < wav.seconds < 4.0, wav.seconds
    assert wav.tone_share(0, PHONES["1000"]) > 0.6 and wav.tone_share(1, PHONES["1001"]) > 0.6
    leg = row["leg_uuid"]
    assert [c.split()[2] for c in product.commands(rf"^uuid_record {leg} ")] == ["start", "stop"]
    reference = load_reference(product.switch.sounds / "callrec" / "8000" / "call-recording-started.wav")
    assert len(wav.find_all(1, reference)) == 1, "the other party heard 'Call recording started' once"


def test_a_dialing_rules_codes_replace_the_default_codes(product, phones):
    """Carol (1002) belongs to "Home Users", whose dialing rule has *71 / *72 (callrec/demo.py)."""
    product.set_policy("1002", **MANUAL)
    policy = product.api.get(f"/accounts/{product.account('1002')['id']}/effective-policy")
    assert "*71" in str(policy) and "*72" in str(policy)
    seen = ids(product)
    talk(phones, "1002", "1003", 6.5, caller_keys=(Keys(0.8, "*44"), Keys(2.0, "*71"), Keys(4.5, "*72")))
    (row,) = product.finished_recordings(call_uuid_of(product, "1002", seen), 1)
    wav = file_of(product, row)
    assert row["trigger"] == "manual"
    assert 1.8 < wav.seconds < 3.5, "recorded from *71 to *72; *44 does nothing for this account"


def test_a_stop_code_pressed_while_the_announcement_plays_is_neither_delayed_nor_cut(product, phones):
    """*45 pressed 0.5 s after the bridge, while "Call recording started" (2.5 s) plays: on the real switch a
    broadcast held the digits back until it ended (~1.5 s late) and '*' cut it; a mixed-in announcement does not."""
    product.set_policy("1000", auto_record_outgoing=True, **MANUAL)
    product.set_policy("1001")
    seen = ids(product)
    talk(phones, "1000", "1001", 5.0, caller_keys=(Keys(0.5, "*45"),))
    (row,) = product.finished_recordings(call_uuid_of(product, "1000", seen), 1)
    (path,) = Path(product.switch.recordings).rglob(f"{row['call_uuid']}_1000.wav")
    wav = Recording.read(path)
    # the code's last key ends ~1.0 s after answer; the file must end right there, not after the announcement
    assert wav.seconds < 1.8, f"the stop came {wav.seconds:.2f} s into the recording"
    FIGURES.append(f"stop code pressed during the announcement: recording ended {wav.seconds:.2f} s after it began")


def test_a_controller_restarted_mid_call_keeps_one_recording_finalised_and_emailed_once(product, phones, mailbox):
    product.set_policy("1000", **ALL_AUTO)
    product.set_policy("1001", **ALL_AUTO)
    seen = ids(product)
    answer = phones("1001").answer([AwaitHangup()], talk=25)
    call = phones("1000").call("1001", [Pause(9), Hangup()], talk=25)
    call_uuid = call_uuid_of(product, "1000", seen)
    wait_until("both recordings to start", lambda: len(product.recordings(call_uuid=call_uuid)) == 2, 10)
    product.stop_controller(signal.SIGTERM)
    product.start_controller()
    call.wait(40)
    answer.wait(30)
    rows = product.finished_recordings(call_uuid, 2, timeout=40)
    assert sorted((r["account_number"], r["status"]) for r in rows) == [("1000", "completed"), ("1001", "completed")]
    for row in rows:
        assert file_of(product, row).seconds > 7, "one file for the whole call, across the restart"
    messages = mailbox.wait(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["alice@example.test", "bob@example.test"]
    starts = product.commands(r"^uuid_record \S+ start .*" + call_uuid)
    assert len(starts) == 2, starts  # the restarted controller resynced and started nothing twice


def _file_start_in_ramp(wav: Recording, channel: int = 0) -> float:
    """Where in the caller's ramp (seconds after answer) the file's first sample lies (±10 ms)."""
    begin = wav.first_audio(channel) or 0.0
    first = wav.dominant_frequency(channel, begin, 0.02)
    t = begin
    while t < wav.seconds - 0.03:  # the first step change in the file is an exact point of the ramp
        if abs(wav.dominant_frequency(channel, t, 0.02) - first) > 50:
            return ramp_time(round(wav.dominant_frequency(channel, t + 0.01, 0.02) / 100) * 100) - t
        t += 0.01
    raise AssertionError("no step of the ramp found in the file")


def test_how_much_of_the_calls_start_an_auto_recording_misses(product, phones, switch):
    """Printed, not asserted (noisy machines): the caller sends a rising tone from the moment of answer; where the
    file begins in it is the audio the recording lost — next to the dialplan's own record_session (execute_on_answer
    on the caller's leg, extension 77NNNN of the live configuration), the physical limit."""
    product.set_policy("1000", auto_record_outgoing=True)
    product.set_policy("1001")
    seen = ids(product)
    talk_audio = ramp(12)
    answer = phones("1001").answer([AwaitHangup()], talk=12)
    call = phones("1000").call("1001", [Pause(4), Hangup()], talk=12, audio=talk_audio)
    call.wait(40)
    answer.wait(30)
    (row,) = product.finished_recordings(call_uuid_of(product, "1000", seen), 1)
    ours = _file_start_in_ramp(file_of(product, row))
    product.set_policy("1000")
    answer = phones("1001").answer([AwaitHangup()], talk=12)
    call = phones("1000").call("771001", [Pause(4), Hangup()], talk=12, audio=talk_audio)
    call.wait(40)
    answer.wait(30)
    path = wait_until("the dialplan's recording", lambda: next(Path(switch.recordings).glob("dialplan-*.wav"), None))
    wait_until("the dialplan's recording to be closed", lambda: not switch.channels(), 10)
    dialplan = _file_start_in_ramp(Recording.read(path))
    path.unlink()
    FIGURES.append(f"start of an auto recording: {ours * 1000:.0f} ms of the call lost "
                   f"(dialplan record_session on answer: {dialplan * 1000:.0f} ms)")
    assert 0 <= ours < 3 and -0.1 <= dialplan < 3  # sanity of the measurement itself, not a target


def test_the_phones_record_key_is_adopted_and_announced_to_every_party_on_the_real_switch(product, phones, switch):
    """SIP INFO `Record: on` / `off`: FreeSWITCH records by the profile's record-template itself; its RECORD_START
    comes before mod_sofia sets sofia_record_file, so the controller asks the leg, adopts the file as the account's
    manual recording and announces it like a start code would."""
    from .sip import Info

    product.set_policy("1000", **MANUAL)
    product.set_policy("1001")
    seen = ids(product)
    answer = phones("1001").answer([AwaitHangup()], talk=15)
    call = phones("1000").call("1001", [Pause(1.0), Info({"Record": "on"}), Pause(4.0), Info({"Record": "off"}),
                                        Pause(1.0), Hangup()], talk=15)
    call.wait(40)
    answer.wait(30)
    (row,) = product.finished_recordings(call_uuid_of(product, "1000", seen), 1)
    assert (row["account_number"], row["trigger"], row["status"]) == ("1000", "phone", "completed")
    wav = Recording.read(next(Path(switch.recordings).glob("1000.*.wav")))
    assert 3.0 < wav.seconds < 5.5
    reference = load_reference(switch.sounds / "callrec" / "8000" / "call-recording-started.wav")
    for channel in (0, 1):
        found = wav.find_all(channel, reference)
        assert len(found) == 1 and found[0][0] < 1.0, f"channel {channel}: {found}"
    assert product.commands(rf"^uuid_getvar {row['leg_uuid']} sofia_record_file")
    assert len(product.commands(r"^uuid_displace .*call-recording-started")) >= 2
    assert product.commands(rf"^uuid_record {row['leg_uuid']}") == []  # FreeSWITCH's file, not ours


def _silent_runs(wav: Recording, block: float = 0.02) -> list[tuple[float, float]]:
    """(start, end) seconds of every run of blocks that are digital silence on both channels (a mask writes zeros)."""
    n = int(block * wav.rate)
    runs, start = [], None
    for i in range(0, len(wav.channels[0]) - n + 1, n):
        silent = all(not wav.channels[c][i:i + n].any() for c in range(len(wav.channels)))
        if silent and start is None:
            start = i / wav.rate
        elif not silent and start is not None:
            runs.append((start, i / wav.rate))
            start = None
    if start is not None:
        runs.append((start, wav.seconds))
    return runs


def test_pci_pause_writes_silence_into_the_same_file_until_the_resume_code(product, phones):
    """*46 pauses, *47 resumes (the settings' default pause codes, set for this test): FreeSWITCH masks the running
    recording, so the file holds digital silence on both channels in between and each party's tone before and
    after; the row lists the paused interval."""
    before = product.metric("callrec_policy_revision") or 0
    product.api.patch("/settings", {"record_pause_code": "*46", "record_resume_code": "*47"})
    product.policies_loaded(before)
    try:
        product.set_policy("1000", auto_record_outgoing=True, manual_control=True)
        product.set_policy("1001")
        seen = ids(product)
        talk(phones, "1000", "1001", 9.0, caller_keys=(Keys(2.5, "*46"), Keys(5.5, "*47")))
        (row,) = product.finished_recordings(call_uuid_of(product, "1000", seen), 1)
    finally:
        before = product.metric("callrec_policy_revision") or 0
        product.api.patch("/settings", {"record_pause_code": "", "record_resume_code": ""})
        product.policies_loaded(before)
    leg = row["leg_uuid"]
    start, mask, unmask = (product.commands(rf"^uuid_record {leg} {verb} ")[0].split()[3]
                           for verb in ("start", "mask", "unmask"))
    assert start == mask == unmask, "one file, masked and unmasked in place"
    wav = file_of(product, row)
    assert wav.seconds > 7.5, "the file runs through the pause"
    (paused_from, paused_to) = max(_silent_runs(wav), key=lambda run: run[1] - run[0])
    # *46 ends ~0.54 s after 2.5 s, *47 ~0.54 s after 5.5 s: ~3 s of silence
    assert 2.5 < paused_to - paused_from < 3.5, (paused_from, paused_to)
    for channel, party in ((0, "1000"), (1, "1001")):
        assert wav.tone_share(channel, PHONES[party], max(0.0, paused_from - 1.5), 1.2) > 0.6, \
            f"channel {channel}: the party before the pause"
        assert wav.tone_share(channel, PHONES[party], paused_to + 0.3, 1.5) > 0.6, \
            f"channel {channel}: the party after the resume"
    (interval,) = row["paused_intervals"]
    assert abs(interval["seconds"] - (paused_to - paused_from)) < 0.3, (interval, paused_from, paused_to)
    FIGURES.append(f"PCI pause: {paused_to - paused_from:.2f} s of silence in the file, "
                   f"{interval['seconds']:.2f} s between the codes' events")
