"""Media: uuid_record writes real WAVs following the call's timeline; uuid_broadcast's samples
land in them (proved by correlation); masks, append, rates, rate folders, limits."""
import os

import pytest

from tests.fakeswitch import audio, commands


def api(fs, line):
    with fs.lock:
        return commands.execute(fs, line)


def answered(fs, **kw):
    return fs.call_user_to_user("1000", "1001", **kw).ring().answer()


def test_recording_during_broadcast_contains_the_announcement_by_correlation(fs, dirs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "acct", "call.wav")
    assert api(fs, "uuid_record %s start %s" % (call.a.uuid, path)) == "+OK Success\n"
    call.talk(2)
    assert api(fs, "uuid_broadcast %s %s both" % (call.a.uuid, dirs["announcement"])) == "+OK Message sent\n"
    call.talk(3)
    call.hangup("a")
    offset = audio.find(path, dirs["ann8k"])
    assert offset == pytest.approx(2.0, abs=0.01)
    assert audio.contains(path, dirs["ann8k"], channel=1)        # heard by 1000 (write side)
    assert not audio.contains(path, dirs["ann8k"], channel=0)    # not spoken by 1000


def test_recording_without_broadcast_does_not_contain_the_announcement(fs, dirs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "plain.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(3)
    call.hangup("b")
    assert not audio.contains(path, dirs["ann8k"])


def test_stereo_recording_has_each_party_on_its_own_channel(fs):
    call = answered(fs)
    assert call.a.get_var("record_stereo") == "true"   # stock directory
    path = os.path.join(fs.recordings_dir, "stereo.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(1)
    call.hangup("a")
    rate, ch, _ = audio.read_wav(path)
    assert (rate, ch) == (8000, 2)
    fa, fb = audio.party_frequency("1000"), audio.party_frequency("1001")
    assert fa != fb
    assert audio.tone_level(path, fa, channel=0) > 0.9 and audio.tone_level(path, fb, channel=0) < 0.05
    assert audio.tone_level(path, fb, channel=1) > 0.9 and audio.tone_level(path, fa, channel=1) < 0.05


def test_mono_when_record_stereo_is_off_and_16k_for_wideband_legs(fs):
    call = answered(fs, codec="G722", callee_codec="G722")
    api(fs, "uuid_setvar %s record_stereo false" % call.b.uuid)
    path = os.path.join(fs.recordings_dir, "mono16.wav")
    api(fs, "uuid_record %s start %s" % (call.b.uuid, path))
    call.talk(1, who="b")
    call.hangup("a")
    rate, ch, chans = audio.read_wav(path)
    assert (rate, ch, len(chans[0])) == (16000, 1, 16000)
    assert audio.tone_level(path, audio.party_frequency("1001")) > 0.9


def test_masked_span_is_silence(fs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "mask.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(1)
    assert api(fs, "uuid_record %s mask %s" % (call.a.uuid, path)) == "+OK Success\n"
    call.talk(1)
    api(fs, "uuid_record %s unmask %s" % (call.a.uuid, path))
    call.talk(1)
    call.hangup("a")
    _, _, chans = audio.read_wav(path)
    assert not any(chans[0][8000:16000]) and not any(chans[1][8000:16000])
    assert any(chans[0][16000:]) and any(chans[0][:8000])


def test_stop_then_start_with_record_append_continues_the_same_file(fs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "append.wav")
    api(fs, "uuid_setvar %s RECORD_APPEND true" % call.a.uuid)
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(1)
    api(fs, "uuid_record %s stop %s" % (call.a.uuid, path))
    call.talk(2)                                       # not recorded
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    call.talk(1)
    call.hangup("a")
    _, _, chans = audio.read_wav(path)
    assert len(chans[0]) == 16000


def test_start_without_append_truncates(fs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "trunc.wav")
    for _ in range(2):
        api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
        call.talk(1)
        api(fs, "uuid_record %s stop %s" % (call.a.uuid, path))
    assert len(audio.read_wav(path)[2][0]) == 8000


def test_broadcast_resolves_the_rate_folder_for_16k_legs(fs, dirs):
    call = answered(fs, codec="G722", callee_codec="G722")
    path = os.path.join(fs.recordings_dir, "wide.wav")
    api(fs, "uuid_record %s start %s" % (call.a.uuid, path))
    api(fs, "uuid_broadcast %s %s both" % (call.a.uuid, dirs["announcement"]))
    start = fs.wait_for_event("PLAYBACK_START", uuid=call.a.uuid)
    assert start.get("Playback-File-Path") == dirs["ann16k"]
    call.talk(2)
    call.hangup("a")
    assert audio.find(path, dirs["ann16k"]) == pytest.approx(0.0, abs=0.01)


def test_missing_file_gives_file_not_found_and_no_playback_events(fs):
    call = answered(fs)
    since = len(fs.events)
    assert api(fs, "uuid_broadcast %s /nope/x.wav both" % call.a.uuid) == "+OK Message sent\n"
    evs = [(e.name, e.uuid) for e in fs.events[since:]]
    assert evs == [("CHANNEL_EXECUTE", call.b.uuid), ("CHANNEL_EXECUTE_COMPLETE", call.b.uuid),
                   ("CHANNEL_EXECUTE", call.a.uuid), ("CHANNEL_EXECUTE_COMPLETE", call.a.uuid)]
    assert fs.events[-1].get("Application-Response") == "FILE NOT FOUND"
    assert fs.events[-1].get("variable_current_application_response") == "FILE NOT FOUND"


def test_broadcast_both_events_on_both_legs_in_capture_order(fs, dirs):
    call = answered(fs)
    since = len(fs.events)
    api(fs, "uuid_broadcast %s %s both" % (call.a.uuid, dirs["announcement"]))
    call.talk(2)
    a, b = call.a.uuid, call.b.uuid
    assert [(e.name, e.uuid) for e in fs.events[since:]] == [
        ("CHANNEL_EXECUTE", b), ("PLAYBACK_START", b), ("CHANNEL_EXECUTE", a), ("PLAYBACK_START", a),
        ("PLAYBACK_STOP", b), ("CHANNEL_EXECUTE_COMPLETE", b), ("PLAYBACK_STOP", a),
        ("CHANNEL_EXECUTE_COMPLETE", a)]
    stop = fs.events[-2]
    assert stop.get("Playback-Status") == "done" and stop.get("variable_playback_ms") == "1000"
    assert fs.events[-1].get("Application-Response") == "FILE PLAYED"


def test_record_limit_stops_with_record_stop_event(fs):
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "limit.wav")
    api(fs, "uuid_record %s start %s 2 {account=42,RECORD_STEREO=false}" % (call.a.uuid, path))
    start = fs.events[-2]
    assert start.name == "RECORD_START" and start.get("Recording-Variable-account") == "42"
    call.talk(5)
    stop = fs.wait_for_event("RECORD_STOP", uuid=call.a.uuid)
    assert stop.get("variable_record_seconds") == "2" and stop.get("Record-Completion-Cause")
    assert stop.get("Recording-Variable-account") == "42"
    rate, ch, chans = audio.read_wav(path)
    assert (ch, len(chans[0])) == (1, 16000)


def test_record_stop_errors_and_stop_all(fs):
    call = answered(fs)
    assert api(fs, "uuid_record %s stop /x.wav" % call.a.uuid) == "-ERR Cannot stop record session!\n"
    assert api(fs, "uuid_record nope start /x.wav") == "-ERR Cannot locate session!\n"
    assert api(fs, "uuid_record %s" % call.a.uuid).startswith("-USAGE: ")
    for n in (1, 2):
        api(fs, "uuid_record %s start %s/%d.wav" % (call.a.uuid, fs.recordings_dir, n))
    assert api(fs, "uuid_record %s stop all" % call.a.uuid) == "+OK Success\n"
    assert [e.name for e in fs.events[-4:]] == ["RECORD_STOP", "MEDIA_BUG_STOP"] * 2


def test_hangup_stops_recordings_between_unbridge_and_hangup_complete(fs):
    call = answered(fs)
    api(fs, "uuid_record %s start %s/h.wav" % (call.a.uuid, fs.recordings_dir))
    since = len(fs.events)
    call.hangup("b")
    names = [e.name for e in fs.events[since:] if e.uuid == call.a.uuid and e.name != "CHANNEL_STATE"]
    assert names == ["CHANNEL_HANGUP", "CHANNEL_UNBRIDGE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_CALLSTATE",
                     "RECORD_STOP", "MEDIA_BUG_STOP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"]


def test_announcement_clip_is_not_mistaken_for_a_party_tone(tmp_path):
    ann = audio.make_announcement(str(tmp_path / "a.wav"))
    tone = str(tmp_path / "t.wav")
    audio.write_wav(tone, 8000, [audio.tone(audio.party_frequency("1000"), 8000, 0, 16000)])
    assert not audio.contains(tone, ann)
    assert audio.contains(ann, ann)


def test_record_needs_media_inbound_ringing_is_pre_answered_outbound_ringing_fails(fs):
    call = fs.call_user_to_user("1000", "1001").ring()
    fresh = fs.call_user_to_user("1002", "1003")
    assert api(fs, "uuid_record %s start %s/o.wav" % (fresh.b.uuid, fs.recordings_dir)) == \
        "-ERR Cannot record session!\n"
    assert api(fs, "uuid_record %s start %s/o.wav" % (call.b.uuid, fs.recordings_dir)) == \
        "-ERR Cannot record session!\n"       # ringing, no early media from the phone
    since = len(fs.events)
    assert api(fs, "uuid_record %s start %s/i.wav" % (fresh.a.uuid, fs.recordings_dir)) == "+OK Success\n"
    assert [e.name for e in fs.events[since:since + 3] if e.name != "CHANNEL_CALLSTATE"][:2] == \
        ["CHANNEL_PROGRESS_MEDIA", "RECORD_START"]


def test_hold_music_is_recorded_on_the_held_partys_write_side(fs):
    from tests.fakeswitch.scenarios import MOH_FREQ
    call = answered(fs)
    path = os.path.join(fs.recordings_dir, "hold.wav")
    api(fs, "uuid_record %s start %s" % (call.b.uuid, path))
    call.hold("a")
    call.talk(1, who="b")
    call.unhold("a")
    call.hangup("a")
    assert audio.tone_level(path, MOH_FREQ, channel=1) > 0.9


def test_broadcast_accepts_app_args_form(fs, dirs):
    call = answered(fs)
    since = len(fs.events)
    assert api(fs, "uuid_broadcast %s playback::%s aleg" % (call.a.uuid, dirs["announcement"])) == \
        "+OK Message sent\n"
    assert [e.name for e in fs.events[since:]] == ["CHANNEL_EXECUTE", "PLAYBACK_START"]
    since = len(fs.events)
    api(fs, "uuid_broadcast %s sleep::100 bleg" % call.a.uuid)
    assert [(e.name, e.uuid, e.get("Application")) for e in fs.events[since:]] == [
        ("CHANNEL_EXECUTE", call.b.uuid, "sleep"), ("CHANNEL_EXECUTE_COMPLETE", call.b.uuid, "sleep")]
