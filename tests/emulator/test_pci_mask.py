"""`uuid_record <uuid> mask|unmask <path>` (PCI pause) answers with the strings the real FreeSWITCH 1.10 gave in
the live tier (checked 2026-12-05 on the live switch, see docs/real-freeswitch.md), and masks the same file."""
import os

import pytest

from tests.fakeswitch import audio, commands

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def api(fs, line):
    with fs.lock:
        return commands.execute(fs, line)


# (commands before, the command, FreeSWITCH's reply); {u} the recorded leg, {p} the file it records
REPLIES = [
    ([], "uuid_record {u} mask {p}", "+OK Success\n"),
    (["uuid_record {u} mask {p}"], "uuid_record {u} mask {p}", "+OK Success\n"),  # masking twice is fine
    (["uuid_record {u} mask {p}"], "uuid_record {u} unmask {p}", "+OK Success\n"),
    ([], "uuid_record {u} unmask {p}", "+OK Success\n"),  # unmasking what is not masked too
    ([], "uuid_record {u} mask /tmp/not-recording.wav", "-ERR Cannot mask recording session!\n"),
    ([], "uuid_record {u} unmask /tmp/not-recording.wav", "-ERR Cannot unmask recording session!\n"),
    (["uuid_record {u} stop {p}"], "uuid_record {u} mask {p}", "-ERR Cannot mask recording session!\n"),
    ([], "uuid_record " + UNKNOWN + " mask {p}", "-ERR Cannot locate session!\n"),
    ([], "uuid_record {u} mask", "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"),
]


@pytest.mark.parametrize(("before", "line", "reply"), REPLIES, ids=[r[1].split()[2] + f"-{i}"
                                                                   for i, r in enumerate(REPLIES)])
def test_mask_and_unmask_answer_like_the_real_switch(fs, before, line, reply):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    path = os.path.join(fs.recordings_dir, "pci.wav")
    assert api(fs, "uuid_record %s start %s" % (call.a.uuid, path)) == "+OK Success\n"
    for command in before:
        api(fs, command.format(u=call.a.uuid, p=path))
    assert api(fs, line.format(u=call.a.uuid, p=path)) == reply
    call.hangup("a")


def test_a_masked_recording_continues_in_the_same_file_with_silence_on_both_channels(fs):
    """As on the real switch: RMS 0 on both channels while masked, the parties' tones before and after, one file
    as long as the whole call."""
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    path = os.path.join(fs.recordings_dir, "pci.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(2)
    api(fs, "uuid_record %s mask %s" % (call.a.uuid, path))
    call.talk(2)
    api(fs, "uuid_record %s unmask %s" % (call.a.uuid, path))
    call.talk(2)
    call.hangup("a")
    rate, _, chans = audio.read_wav(path)
    assert len(chans[0]) == 6 * rate
    for channel, party in ((0, "1000"), (1, "1001")):
        assert not any(chans[channel][2 * rate:4 * rate])
        assert audio.tone_level(path, audio.party_frequency(party), channel, 0, 2) > 0.9
        assert audio.tone_level(path, audio.party_frequency(party), channel, 4, 2) > 0.9
