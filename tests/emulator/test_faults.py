"""Faults on demand: drops, restarts, slow or failing replies, malformed and fragmented frames,
slow consumers."""
import socket

import pytest

from tests.emulator.conftest import RawClient
from tests.fakeswitch import LOST_EVENTS_NOTICE, SHUTDOWN_NOTICE, FakeSwitch


def test_drop_connections_without_notice_is_a_plain_eof(fs, esl):
    fs.drop_connections()
    with pytest.raises((EOFError, ConnectionError)):
        esl.read_frame()


def test_drop_with_shutdown_notice(fs, esl):
    fs.drop_connections(notice=SHUTDOWN_NOTICE)
    hdr, body, _ = esl.read_frame()
    assert hdr["Content-Type"] == "text/disconnect-notice" and body == SHUTDOWN_NOTICE.encode()
    with pytest.raises(EOFError):
        esl.read_frame()


def test_restart_gives_new_core_uuid_and_drops_calls(fs, esl):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    old = fs.core_uuid
    fs.restart(keep_calls=False)
    assert fs.core_uuid != old and not fs.legs
    c = RawClient(fs.port).login(events=None)
    assert c.command("api uuid_exists %s" % call.a.uuid)[1] == b"false"
    c.send("api show calls as json\n\n")
    assert c.read_frame()[1] == b'{"row_count": 0}\n'
    c.close()


def test_restart_keeping_calls_keeps_them_under_the_new_core(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    fs.restart(keep_calls=True)
    c = RawClient(fs.port).login(events="ALL")
    assert c.command("api uuid_exists %s" % call.a.uuid)[1] == b"true"
    fs.wait_for_subscriber()
    call.hangup("a")
    hdr, body, _ = c.read_frame()
    assert ("Core-UUID: %s" % fs.core_uuid).encode() in body
    c.close()


def test_restart_down_keeps_port_closed_until_start(fs):
    port = fs.port
    fs.restart(down=True)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).recv(1)
    fs.start()
    assert fs.port == port
    RawClient(port).login(events=None).close()


def test_delayed_reply_holds_events_until_the_reply(fs, esl):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    esl.events(until="CALL_UPDATE")
    esl.events(until="CALL_UPDATE")
    fs.delay_replies(0.3, pattern="uuid_getvar")
    esl.send("api uuid_getvar %s dialed_user\n\n" % call.b.uuid)
    fs.wait_for_command("uuid_getvar")
    call.dtmf("a", "5")                          # fired while the api is "running"
    hdr, body, _ = esl.read_frame()
    assert hdr["Content-Type"] == "api/response" and body == b"1001"
    assert b"DTMF-Digit: 5" in esl.read_frame()[1]


def test_fail_next_command_returns_freeswitch_error_without_running(fs, esl):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    fs.fail_next_command(r"^uuid_record")
    esl.send("api uuid_record %s start %s/f.wav\n\n" % (call.a.uuid, fs.recordings_dir))
    while True:
        hdr, body, _ = esl.read_frame()
        if hdr["Content-Type"] == "api/response":
            break
    assert body == b"-ERR Cannot record session!\n" and not call.a.recordings
    fs.fail_next_command(r"^uuid_setvar", reply="-ERR custom\n")
    esl.send("api uuid_setvar %s x 1\n\n" % call.a.uuid)
    assert esl.read_frame()[1] == b"-ERR custom\n"


def test_drop_on_command_closes_before_replying(fs, esl):
    fs.drop_on_command(r"^uuid_record")
    esl.send("api uuid_record x start /tmp/x.wav\n\n")
    with pytest.raises((EOFError, ConnectionError)):
        while True:
            esl.read_frame()


def test_malformed_frame_reaches_the_client_verbatim(fs, esl):
    fs.send_raw(b"Content-Length: 9999\nContent-Type: text/event-plain\n\nEvent-Name: BROKEN\n")
    esl.sock.settimeout(0.5)
    assert esl.file.readline() == b"Content-Length: 9999\n"


def test_fragmented_frames_are_still_valid_frames(fs, esl):
    fs.fragment_frames(7)
    call = fs.call_user_to_user("1000", "1001", cid_name="frag me")
    frames = esl.events(until="CHANNEL_CREATE")
    create = [f for f in frames if f[0] == "CHANNEL_CREATE"][0]
    assert dict(create[1])["Caller-Caller-ID-Name"] == "frag me"


def test_slow_consumer_is_killed_with_lost_events_notice(dirs):
    with FakeSwitch(slow_consumer=(20, 5)) as fs:
        c = RawClient(fs.port)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.login(events="ALL")
        fs.wait_for_subscriber()
        for _ in range(30):                        # ~30 * 30 events of ~5 KB, never read meanwhile
            fs.call_user_to_user("1000", "1001").ring().answer().hangup("a")
        frames = []
        with pytest.raises(EOFError):
            while True:
                frames.append(c.read_frame())
        assert frames[-1][0]["Content-Type"] == "text/disconnect-notice"
        assert frames[-1][1] == LOST_EVENTS_NOTICE.encode()
        c.close()


def test_drop_mid_frame_leaves_a_truncated_frame_then_eof(fs, esl):
    fs.drop_connections(mid_frame=True)
    with pytest.raises(EOFError):
        esl.read_frame()


def test_hostile_raw_bytes_in_caller_id_are_encoded_byte_wise(fs, esl):
    fs.call_user_to_user("1000", "1001", cid_name=b"\xff\xfe%41 x")
    hdr, body, _ = esl.read_frame()
    while b"Event-Name: CHANNEL_CREATE" not in body:
        hdr, body, _ = esl.read_frame()
    assert b"Caller-Caller-ID-Name: %FF%FE%41%20x\n" in body


def test_silent_accept_completes_the_tcp_handshake_but_never_sends_auth_request(dirs):
    with FakeSwitch(silent_accept=True) as fs:
        c = RawClient(fs.port, timeout=0.3)
        fs.wait_for_connections(1)
        c.send("auth ClueCon\n\n")                      # read and ignored: no reply either
        with pytest.raises(socket.timeout):
            c.sock.recv(1)
        assert fs.connections[0].silent and not fs.connections[0].authed
        c.close()
        fs.wait_for_connections(0)                      # the client's close is noticed
        fs.silent_accept(False)                         # greets again from the next connection on
        RawClient(fs.port).login(events=None).close()


def test_silent_accept_can_be_switched_on_for_new_connections_only(fs, esl):
    fs.silent_accept()
    quiet = RawClient(fs.port, timeout=0.3)
    fs.wait_for_connections(2)
    with pytest.raises(socket.timeout):
        quiet.sock.recv(1)
    assert esl.command("api uuid_exists nope")[1] == b"false"   # the greeted client still works
    quiet.close()


def test_slow_consumer_kill_loses_the_events_then_sends_the_notice_and_closes(fs, esl):
    first = fs.call_user_to_user("1000", "1001")
    esl.events(until="CHANNEL_CREATE")
    with fs.slow_consumer_kill() as killed:
        assert [c.alive for c in killed] == [True]
        lost = fs.call_user_to_user("1002", "1003").ring().answer()
        esl.send("api uuid_exists %s\n\n" % lost.a.uuid)      # api replies still flow meanwhile
        frames = [esl.read_frame()]
        while frames[-1][0].get("Content-Type") != "api/response":
            frames.append(esl.read_frame())
        assert frames[-1][1] == b"true"
    with pytest.raises(EOFError):
        while True:
            frames.append(esl.read_frame())
    kinds = [f[0].get("Content-Type") for f in frames]
    assert kinds[-1] == "text/disconnect-notice" and frames[-1][1] == LOST_EVENTS_NOTICE.encode()
    seen = b"".join(f[1] for f in frames if f[0].get("Content-Type") == "text/event-plain")
    assert lost.a.uuid.encode() not in seen                    # its events never reached the client
    assert lost.a.uuid in fs.legs and first.a.uuid in fs.legs  # the calls themselves go on
    fs.wait_for_connections(0)
