"""Wire protocol: exact frames and reply strings of mod_event_socket (ESL_RESEARCH.md §1)."""
import pytest

from tests.emulator.conftest import RawClient
from tests.fakeswitch.encoding import parse_plain

GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def test_auth_request_is_sent_on_accept_and_right_password_is_accepted(client):
    hdr, body, raw = client.read_frame()
    assert raw == b"Content-Type: auth/request\n\n"
    assert client.command("auth ClueCon")[2] == b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"


def test_wrong_password_gets_err_invalid_then_disconnect_notice_then_close(client):
    client.read_frame()
    assert client.command("auth nope")[2] == b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"
    hdr, body, raw = client.read_frame()
    assert raw == b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" + GOODBYE
    with pytest.raises(EOFError):
        client.read_frame()


def test_commands_before_auth_are_not_found(client):
    client.read_frame()
    assert client.command("api status")[0]["Reply-Text"] == "-ERR command not found"


def test_event_subscription_replies(client):
    client.login(events=None)
    assert client.command("event plain CHANNEL_ANSWER DTMF CUSTOM sofia::transferor")[0]["Reply-Text"] == \
        "+OK event listener enabled plain"
    assert client.command("event json ALL")[0]["Reply-Text"] == "+OK event listener enabled json"
    assert client.command("event plain")[0]["Reply-Text"] == "-ERR no keywords supplied"
    assert client.command("nixevent DTMF")[0]["Reply-Text"] == "+OK events nixed"
    assert client.command("noevents")[0]["Reply-Text"] == "+OK no longer listening for events"
    assert client.command("noevents")[0]["Reply-Text"] == "-ERR not listening for events"
    assert client.command("linger")[0]["Reply-Text"] == "-ERR not controlling a session"
    assert client.command("bogus")[0]["Reply-Text"] == "-ERR command not found"


def test_api_response_has_content_length_and_unknown_command_is_not_found(client):
    client.login(events=None)
    hdr, body, raw = client.command("api nosuchthing a b")
    assert raw == b"Content-Type: api/response\nContent-Length: 36\n\n-ERR nosuchthing Command not found!\n"
    assert client.command("api uuid_exists 00000000-0000-0000-0000-000000000000")[1] == b"false"


def test_exit_replies_bye_then_notice_then_close(client):
    client.login(events=None)
    assert client.command("exit")[0]["Reply-Text"] == "+OK bye"
    assert client.read_frame()[1] == GOODBYE
    with pytest.raises(EOFError):
        client.read_frame()


def test_bgapi_replies_job_uuid_then_background_job_with_body(fs, client):
    client.login(events="BACKGROUND_JOB")
    hdr, _, raw = client.command("bgapi status")
    job = hdr["Job-UUID"]
    assert raw == ("Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n"
                   % (job, job)).encode()
    hdr, body, _ = client.read_frame()
    assert list(hdr) == ["Content-Length", "Content-Type"]  # Content-Length first, like FS
    headers, inner = parse_plain(body)
    d = dict(headers)
    assert d["Event-Name"] == "BACKGROUND_JOB" and d["Job-UUID"] == job and d["Job-Command"] == "status"
    assert inner.startswith("UP ")
    assert b"\nContent-Length: %d\n\n" % len(inner.encode()) in body


def test_bgapi_honours_a_client_job_uuid_header(client):
    client.login(events="BACKGROUND_JOB")
    hdr, _, _ = client.command("bgapi reloadxml\nJob-UUID: 11111111-2222-3333-4444-555555555555")
    assert hdr["Job-UUID"] == "11111111-2222-3333-4444-555555555555"
    assert b"+OK [Success]" in client.read_frame()[1]


def test_api_reply_is_written_before_the_events_it_causes(fs, esl):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    esl.events(until="CALL_UPDATE")
    esl.events(until="CALL_UPDATE")
    esl.send("api uuid_record %s start %s/x.wav\n\n" % (call.a.uuid, fs.recordings_dir))
    frames = esl.events(until="MEDIA_BUG_START")
    assert frames[0][0] == "api/response" and frames[0][2] == b"+OK Success\n"
    assert [f[0] for f in frames[1:]] == ["RECORD_START", "MEDIA_BUG_START"]


def test_filters_positive_negative_and_regex(fs, client):
    client.login(events="ALL")
    assert client.command("filter Event-Name CHANNEL_ANSWER")[0]["Reply-Text"] == \
        "+OK filter added. [Event-Name]=[CHANNEL_ANSWER]"
    assert client.command("filter Event-Name /^DTMF$/")[0]["Reply-Text"].startswith("+OK filter added.")
    call = fs.call_user_to_user("1000", "1001")
    assert client.command("filter Unique-ID -%s" % call.b.uuid)[0]["Reply-Text"].startswith("+OK")
    call.ring().answer()
    call.dtmf("a", "1")
    fs.heartbeat()
    client.send("api status\n\n")
    got = []
    while True:
        hdr, body, _ = client.read_frame()
        if hdr.get("Content-Type") == "api/response":
            break
        d = dict(parse_plain(body)[0])
        got.append((d["Event-Name"], d["Unique-ID"]))
    # B's answer vetoed by the negative filter, DTMF let through by the regex, the rest by nothing
    assert got == [("CHANNEL_ANSWER", call.a.uuid), ("DTMF", call.a.uuid)]
    assert client.command("filter delete all")[0]["Reply-Text"].startswith("+OK filter deleted.")
    assert client.command("filter")[0]["Reply-Text"] == "-ERR invalid syntax"


def test_negative_filter_vetoes_after_positive_match(fs, client):
    client.login(events="CHANNEL_ANSWER")
    client.command("filter Event-Name CHANNEL_ANSWER")
    client.command("filter Call-Direction -outbound")
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    hdr, body, _ = client.read_frame()
    assert dict(parse_plain(body)[0])["Unique-ID"] == call.a.uuid   # B (outbound) vetoed


def test_custom_events_need_their_subclass(fs, client):
    client.login(events="CUSTOM vm::maintenance")
    call = fs.call_user_to_user("1000", "1001").ring()
    call.no_answer_to_voicemail(message_seconds=1)
    hdr, body, _ = client.read_frame()
    d = dict(parse_plain(body)[0])
    assert d["Event-Name"] == "CUSTOM" and d["Event-Subclass"] == "vm::maintenance"
    assert body.startswith(b"Event-Subclass: vm%3A%3Amaintenance\nEvent-Name: CUSTOM\n")


def test_json_events_are_unencoded_json(fs, client):
    import json
    client.login(events=None)
    client.command("event json CHANNEL_CREATE")
    fs.call_user_to_user("1000", "1001", cid_name="Ann Example")
    hdr, body, _ = client.read_frame()
    assert hdr["Content-Type"] == "text/event-json"
    obj = json.loads(body)
    assert obj["Event-Name"] == "CHANNEL_CREATE" and obj["Caller-Caller-ID-Name"] == "Ann Example"


def test_myevents_restricts_to_one_uuid(fs, client):
    call = fs.call_user_to_user("1000", "1001")
    client.login(events=None)
    assert client.command("myevents %s" % call.b.uuid)[0]["Reply-Text"] == "+OK Events Enabled"
    assert client.command("myevents %s" % call.b.uuid)[0]["Reply-Text"] == "-ERR aready enabled."
    call.ring().answer()
    hdr, body, _ = client.read_frame()
    assert dict(parse_plain(body)[0])["Unique-ID"] == call.b.uuid


def test_several_clients_at_once_each_get_the_events(fs):
    a = RawClient(fs.port).login(events="CHANNEL_CREATE")
    b = RawClient(fs.port).login(events="CHANNEL_CREATE")
    fs.wait_for_subscriber(events=("CHANNEL_CREATE",), count=2)
    fs.call_user_to_user("1000", "1001")
    for c in (a, b):
        assert b"Event-Name: CHANNEL_CREATE" in c.read_frame()[1]
        c.close()


def test_commands_split_across_segments_and_batched_in_one_are_parsed(fs, client):
    client.read_frame()
    for ch in b"auth ClueCon\n\n":
        client.send(bytes([ch]))
    assert client.read_frame()[0]["Reply-Text"] == "+OK accepted"
    client.send("api uuid_exists x\n\napi version\n\nevent plain HEARTBEAT\n\n")
    assert client.read_frame()[1] == b"false"
    assert client.read_frame()[1].startswith(b"FreeSWITCH Version 1.10")
    assert client.read_frame()[0]["Reply-Text"] == "+OK event listener enabled plain"


def test_commands_accept_crlf_line_ends(client):
    client.read_frame()
    client.send(b"auth ClueCon\r\n\r\n")
    assert client.read_frame()[0]["Reply-Text"] == "+OK accepted"


def test_wait_for_subscriber_times_out_without_client(fs):
    with pytest.raises(TimeoutError):
        fs.wait_for_subscriber(timeout=0.05)


def test_myevents_client_is_disconnected_when_its_channel_goes(fs, client):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    client.login(events=None)
    client.command("myevents %s" % call.a.uuid)
    call.hangup("a")
    frames = []
    with pytest.raises(EOFError):
        while True:
            frames.append(client.read_frame())
    assert frames[-1][1] == GOODBYE


def test_no_auth_within_the_auth_timeout_closes_but_an_idle_authed_client_stays(dirs):
    import socket
    from tests.fakeswitch import FakeSwitch
    with FakeSwitch(auth_timeout=0.2) as fs:
        lazy = RawClient(fs.port)
        lazy.read_frame()
        with pytest.raises(EOFError):
            lazy.read_frame()
        idle = RawClient(fs.port).login(events=None)
        idle.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):      # still connected after the auth timeout
            idle.read_frame()
        lazy.close()
        idle.close()
