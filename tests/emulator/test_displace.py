"""uuid_displace: mod_commands.c's reply strings, no events (a media bug, not an application),
and where the file's samples land (switch_ivr_async.c displace callbacks, switch_core_io.c bug
passes): ``r`` = the leg's read stream (in its recordings on channel 0 and in what its peer
hears, channel 1 of the peer's recordings), ``m`` = mixed in; without ``r`` the write stream,
which a recording added before the displace does not contain."""
import os
from array import array

import pytest

from tests.fakeswitch import audio, commands


def api(fs, line):
    with fs.lock:
        return commands.execute(fs, line)


def answered(fs, **kw):
    return fs.call_user_to_user("1000", "1001", **kw).ring().answer()


def occurrences(tmp_path, wav, ref, channel):
    """Offsets (s) of every copy of ``ref`` on ``channel``: found ones are blanked, then searched again."""
    rate, _, chans = audio.read_wav(wav)
    x = array("h", chans[channel])
    n = len(audio.load_mono(ref, rate)[0])
    found = []
    for i in range(5):
        probe = str(tmp_path / ("probe%d.wav" % i))
        audio.write_wav(probe, rate, [x])
        off = audio.find(probe, ref)
        if off is None:
            break
        found.append(off)
        start = int(round(off * rate))
        x[start:start + n] = audio.silence(len(x[start:start + n]))
    return sorted(found)


def tail_clip(tmp_path, ref, seconds):
    """The last ``seconds`` of ``ref`` as its own WAV."""
    rate, _, chans = audio.read_wav(ref)
    path = str(tmp_path / "tail.wav")
    audio.write_wav(path, rate, [chans[0][-int(seconds * rate):]])
    return path


@pytest.fixture
def ann(dirs):
    return dirs["announcement"]     # no rate folder in the name: mod_sndfile picks <dir>/<rate>/


def test_displace_start_replies_ok_success_and_fires_no_event(fs, ann):
    call = answered(fs)
    since = fs.event_count
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == "+OK Success\n"
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.b.uuid, ann)) == "+OK Success\n"
    call.talk(2)                                      # plays to its end: no event either
    assert fs.event_count == since
    assert call.a.displaces == [] and call.b.displaces == []


def test_displace_stop_replies_ok_success_then_cannot_stop_and_fires_no_event(fs, ann):
    call = answered(fs)
    api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann))
    since = fs.event_count
    assert api(fs, "uuid_displace %s stop %s" % (call.a.uuid, ann)) == "+OK Success\n"
    assert api(fs, "uuid_displace %s stop %s" % (call.a.uuid, ann)) == "-ERR Cannot stop displace session!\n"
    assert fs.event_count == since


def test_displace_unknown_or_hung_up_uuid_cannot_locate_session(fs, ann):
    assert api(fs, "uuid_displace nope start %s 0 rm" % ann) == "-ERR Cannot locate session!\n"
    assert api(fs, "uuid_displace nope stop %s" % ann) == "-ERR Cannot locate session!\n"
    call = answered(fs)
    call.hangup("a")
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.b.uuid, ann)) == "-ERR Cannot locate session!\n"


def test_displace_usage_for_missing_arguments_or_unknown_action(fs, ann):
    usage = "-USAGE: <uuid> [start|stop] <path> [<limit>] [mux]\n"
    assert api(fs, "uuid_displace") == usage
    call = answered(fs)
    assert api(fs, "uuid_displace %s start" % call.a.uuid) == usage
    assert api(fs, "uuid_displace %s pause %s" % (call.a.uuid, ann)) == usage


def test_displace_missing_file_cannot_displace_session_without_events(fs):
    call = answered(fs)
    since = fs.event_count
    assert api(fs, "uuid_displace %s start /nope/x.wav 0 rm" % call.a.uuid) == "-ERR Cannot displace session!\n"
    assert fs.event_count == since and call.a.displaces == []


def test_displace_needs_media_ringing_outbound_leg_cannot_displace_session(fs, ann):
    call = fs.call_user_to_user("1000", "1001").ring()
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.b.uuid, ann)) == "-ERR Cannot displace session!\n"


def test_displace_same_file_twice_while_it_plays_is_refused_then_allowed_after_its_end(fs, ann):
    call = answered(fs)
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == "+OK Success\n"
    call.talk(0.5)
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == "-ERR Cannot displace session!\n"
    # another leg, or the same leg's partner, is a different channel
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.b.uuid, ann)) == "+OK Success\n"
    call.talk(0.6)                                    # the 1 s file ended: the bug is gone
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == "+OK Success\n"


def test_read_mux_displace_on_both_legs_puts_the_announcement_once_on_both_channels_at_the_same_offset(
        fs, dirs, ann, tmp_path):
    """What the controller does: record, then displace <file> 0 rm on the leg and its partner."""
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "acct", "call.wav")
    call.talk(0.5)
    assert api(fs, "uuid_record %s start %s" % (call.a.uuid, path)) == "+OK Success\n"
    call.talk(0.5)
    for leg in (call.a, call.b):
        assert api(fs, "uuid_displace %s start %s 0 rm" % (leg.uuid, ann)) == "+OK Success\n"
    call.talk(3)
    call.hangup("a")
    assert occurrences(tmp_path, path, dirs["ann8k"], 0) == [pytest.approx(0.5, abs=0.01)]
    assert occurrences(tmp_path, path, dirs["ann8k"], 1) == [pytest.approx(0.5, abs=0.01)]
    # mixed, not replaced: each party's voice is still there under the announcement
    fa, fb = audio.party_frequency("1000"), audio.party_frequency("1001")
    assert audio.tone_level(path, fa, channel=0, start=0.5, seconds=1.0) > 0.1
    assert audio.tone_level(path, fb, channel=1, start=0.5, seconds=1.0) > 0.1


def test_read_displace_reaches_the_partner_recording_on_its_write_channel_only(fs, dirs, ann):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "a.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(1)
    api(fs, "uuid_displace %s start %s 0 rm" % (call.b.uuid, ann))   # only B's read stream
    call.talk(2)
    call.hangup("a")
    assert audio.find(path, dirs["ann8k"], channel=1) == pytest.approx(1.0, abs=0.01)   # A hears it
    assert not audio.contains(path, dirs["ann8k"], channel=0)                           # A did not say it


def test_recording_started_after_a_read_displace_holds_the_remainder(fs, dirs, ann, tmp_path):
    call = answered(fs)
    api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann))
    call.talk(0.5)
    path = os.path.join(fs.recordings_dir, "late.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(2)
    call.hangup("a")
    rest = tail_clip(tmp_path, dirs["ann8k"], 0.5)
    assert audio.find(path, rest, channel=0) == pytest.approx(0.0, abs=0.01)
    assert not audio.contains(path, dirs["ann8k"])


def test_read_displace_without_mux_replaces_the_read_stream_and_blanks_the_write_stream(fs, dirs, ann):
    call = answered(fs)
    before = os.path.join(fs.recordings_dir, "before.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, before))
    api(fs, "uuid_displace %s start %s 0 r" % (call.a.uuid, ann))
    after = os.path.join(fs.recordings_dir, "after.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, after))
    call.talk(2)
    call.hangup("a")
    fa, fb = audio.party_frequency("1000"), audio.party_frequency("1001")
    for path in (before, after):                 # read side: replace pass first, every recording has it
        assert audio.find(path, dirs["ann8k"], channel=0, threshold=0.99) == pytest.approx(0.0, abs=0.01)
        assert audio.tone_level(path, fa, channel=0, start=0, seconds=1) < 0.05
        assert audio.tone_level(path, fa, channel=0, start=1, seconds=1) > 0.9   # ended: voice back
    # write side (0xff memset) runs in bug order: the earlier recording still has B's voice
    assert audio.tone_level(before, fb, channel=1, start=0, seconds=1) > 0.9
    _, _, chans = audio.read_wav(after)
    assert not any(chans[1][:8000]) and audio.tone_level(after, fb, channel=1, start=1, seconds=1) > 0.9


def test_write_displace_is_not_in_a_recording_added_before_it_but_is_in_one_added_after(fs, dirs, ann):
    call = answered(fs)
    before = os.path.join(fs.recordings_dir, "before.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, before))
    b_rec = os.path.join(fs.recordings_dir, "b.wav")
    api(fs, "uuid_record %s start %s" % (call.b.uuid, b_rec))
    assert api(fs, "uuid_displace %s start %s 0 m" % (call.a.uuid, ann)) == "+OK Success\n"
    after = os.path.join(fs.recordings_dir, "after.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, after))
    call.talk(2)
    call.hangup("a")
    assert not audio.contains(before, dirs["ann8k"])
    assert not audio.contains(b_rec, dirs["ann8k"])                 # only A hears a write displace
    assert audio.find(after, dirs["ann8k"], channel=1) == pytest.approx(0.0, abs=0.01)
    assert not audio.contains(after, dirs["ann8k"], channel=0)


def test_displace_stop_removes_it_from_the_stream_at_once(fs, ann):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "stop.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    api(fs, "uuid_displace %s start %s 0 r" % (call.a.uuid, ann))
    call.talk(0.5)
    assert api(fs, "uuid_displace %s stop %s" % (call.a.uuid, ann)) == "+OK Success\n"
    call.talk(1)
    call.hangup("a")
    fa = audio.party_frequency("1000")
    assert audio.tone_level(path, fa, channel=0, start=0, seconds=0.5) < 0.05
    assert audio.tone_level(path, fa, channel=0, start=0.5, seconds=1) > 0.9


def test_displace_limit_ends_it_after_limit_seconds(fs, tmp_path):
    long_ann = audio.make_announcement(str(tmp_path / "long.wav"), seconds=3.0)
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "limit.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    assert api(fs, "uuid_displace %s start %s 1 r" % (call.a.uuid, long_ann)) == "+OK Success\n"
    call.talk(2)
    assert call.a.displaces == []
    assert api(fs, "uuid_displace %s start %s 0 r" % (call.a.uuid, long_ann)) == "+OK Success\n"
    call.hangup("a")
    fa = audio.party_frequency("1000")
    assert audio.tone_level(path, fa, channel=0, start=0, seconds=1) < 0.05
    assert audio.tone_level(path, fa, channel=0, start=1, seconds=1) > 0.9


def test_displace_picks_the_rate_folder_of_a_16k_leg(fs, dirs, ann):
    call = answered(fs, codec="G722", callee_codec="G722")
    path = os.path.join(fs.recordings_dir, "wide.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == "+OK Success\n"
    call.talk(2)
    call.hangup("a")
    assert audio.find(path, dirs["ann16k"], channel=0) == pytest.approx(0.0, abs=0.01)


def test_displace_relative_path_gets_the_sound_prefix_and_stops_only_by_that_name(fs, dirs):
    call = answered(fs)
    api(fs, "uuid_setvar %s sound_prefix %s" % (call.a.uuid, dirs["sounds"]))
    rel = "callrec/call-recording-started.wav"
    assert api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, rel)) == "+OK Success\n"
    # the duplicate check uses the name as given, the bug is stored under the prefixed one
    assert api(fs, "uuid_displace %s stop %s" % (call.a.uuid, rel)) == "-ERR Cannot stop displace session!\n"
    full = dirs["sounds"] + "/" + rel
    assert api(fs, "uuid_displace %s stop %s" % (call.a.uuid, full)) == "+OK Success\n"


def test_displace_bugs_close_silently_at_hangup(fs, ann):
    call = answered(fs)
    api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann))
    since = fs.event_count
    call.hangup("a")
    names = [e.name for e in fs.events[-(fs.event_count - since):]]
    assert "PLAYBACK_STOP" not in names and "CHANNEL_EXECUTE_COMPLETE" not in names[:3]
    assert call.a.displaces == []


def test_failed_displace_fault_gives_the_real_error_strings(fs, ann):
    call = answered(fs)
    fs.fail_next_command(r"^uuid_displace \S+ start")
    assert commands.error_for("uuid_displace %s start %s 0 rm" % (call.a.uuid, ann)) == \
        "-ERR Cannot displace session!\n"
    assert commands.error_for("uuid_displace %s stop %s" % (call.a.uuid, ann)) == \
        "-ERR Cannot stop displace session!\n"


def test_two_broadcasts_both_to_the_two_legs_play_one_after_the_other_to_both_parties(fs, dirs, ann, tmp_path):
    """DESIGN: seen with real calls; each party hears the file twice, each recording holds it twice."""
    call = answered(fs)
    paths = {}
    for leg in (call.a, call.b):
        paths[leg] = os.path.join(fs.recordings_dir, leg.uuid + ".wav")
        api(fs, "uuid_record %s start %s" % (leg.uuid, paths[leg]))
    since = fs.event_count
    for leg in (call.a, call.b):
        assert api(fs, "uuid_broadcast %s %s both" % (leg.uuid, ann)) == "+OK Message sent\n"
    call.talk(3)
    call.hangup("a")
    evs = [(e.name, e.uuid, e.get("Playback-Status")) for e in fs.events[-(fs.event_count - since):]
           if e.name.startswith("PLAYBACK_")]
    for leg in (call.a, call.b):
        mine = [(name, status) for name, uuid, status in evs if uuid == leg.uuid]
        assert mine == [("PLAYBACK_START", None), ("PLAYBACK_STOP", "done")] * 2   # in turn, none broken
        assert occurrences(tmp_path, paths[leg], dirs["ann8k"], 1) == [
            pytest.approx(0.0, abs=0.01), pytest.approx(1.0, abs=0.01)]


def test_project_announcement_mixed_over_both_talkers_is_found_on_both_channels_once(fs, tmp_path):
    """The real sounds/callrec file is quieter than a party's tone: found by its gain, not lost."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "sounds", "callrec")
    ann = os.path.abspath(os.path.join(root, "call-recording-started.wav"))
    ref = os.path.abspath(os.path.join(root, "8000", "call-recording-started.wav"))
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "real.wav")
    plain = os.path.join(fs.recordings_dir, "plain.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    api(fs, "uuid_record %s start %s" % (call.b.uuid, plain))
    api(fs, "uuid_displace %s start %s 0 rm" % (call.a.uuid, ann))   # only A's read stream
    call.talk(4)
    call.hangup("a")
    assert occurrences(tmp_path, path, ref, 0) == [pytest.approx(0.0, abs=0.01)]
    assert occurrences(tmp_path, plain, ref, 1) == [pytest.approx(0.0, abs=0.01)]   # B hears it
    assert not audio.contains(path, ref, channel=1) and not audio.contains(plain, ref, channel=0)
