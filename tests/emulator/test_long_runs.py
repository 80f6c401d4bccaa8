"""Long runs: commands about ended legs, render skipping, bounded histories (docs/emulator.md "Load")."""
import pytest

from tests.emulator.conftest import RawClient
from tests.fakeswitch import commands, load, server, switch

UNKNOWN = "00000000-0000-4000-8000-000000000000"
# FreeSWITCH's reply for a uuid it cannot locate (ESL_RESEARCH.md §3; mod_commands.c)
GONE_REPLIES = [
    ("uuid_record {u} start /tmp/x.wav", "-ERR Cannot locate session!\n"),
    ("uuid_record {u} start /tmp/x.wav 0 {{callrec_account=1}}", "-ERR Cannot locate session!\n"),
    ("uuid_record {u} stop /tmp/x.wav", "-ERR Cannot locate session!\n"),
    ("uuid_record {u} stop all", "-ERR Cannot locate session!\n"),
    ("uuid_record {u} mask /tmp/x.wav", "-ERR Cannot locate session!\n"),
    ("uuid_broadcast {u} /tmp/a.wav both", "-ERR invalid uuid\n"),
    ("uuid_broadcast {u} playback::/tmp/a.wav aleg", "-ERR invalid uuid\n"),
    ("uuid_setvar {u} callrec 1", "-ERR No such channel!\n"),
    ("uuid_setvar_multi {u} a=1;b=2", "-ERR No such channel!\n"),
    ("uuid_getvar {u} callrec", "-ERR No such channel!\n"),
    ("uuid_exists {u}", "false"),
    ("uuid_kill {u}", "-ERR No such channel!\n"),
    ("uuid_dump {u} json", "-ERR No such channel!\n"),
    ("uuid_transfer {u} -bleg 1003 XML default", "-ERR No such channel!\n"),
    ("uuid_bridge {u} {u}", "-ERR Invalid uuid\n"),
]


def api(fs, line):
    with fs.lock:
        return commands.execute(fs, line)


@pytest.mark.parametrize("line,reply", GONE_REPLIES)
def test_commands_on_ended_and_unknown_legs_get_freeswitchs_error_and_never_raise(fs, line, reply):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    a, b = call.a.uuid, call.b.uuid
    call.hangup("a")
    for uid in (a, b, UNKNOWN):
        assert api(fs, line.format(u=uid)) == reply


def test_uuid_record_after_hangup_over_the_socket_is_answered_and_the_connection_lives(fs):
    c = RawClient(fs.port).login(events="CHANNEL_HANGUP_COMPLETE")
    try:
        fs.wait_for_subscriber(events=("CHANNEL_HANGUP_COMPLETE",))
        call = fs.call_user_to_user("1000", "1001").ring().answer()
        call.hangup("a")
        c.events(until="CHANNEL_HANGUP_COMPLETE")
        c.events(until="CHANNEL_HANGUP_COMPLETE")    # B then A
        for _ in range(2):
            hdr, body, _ = c.command("api uuid_record %s start /tmp/late.wav" % call.a.uuid)
            assert hdr["Content-Type"] == "api/response" and body == b"-ERR Cannot locate session!\n"
        assert c.command("api uuid_exists %s" % call.b.uuid)[1] == b"false"
        assert fs.wait_for_command(r"^uuid_record").trigger[0] == "CHANNEL_HANGUP_COMPLETE"
    finally:
        c.close()


def test_unwanted_events_are_not_rendered_without_history_but_counted(fs):
    fs.keep_events = 0
    rendered = fs.rendered
    seq = fs.seq
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    call.hangup("a")
    assert fs.rendered == rendered and fs.events == []
    assert fs.event_count >= fs.seq - seq > 30        # every event counted and numbered
    assert not call.a.alive and call.a.uuid not in fs.legs   # the model still moved


def test_only_subscribed_events_are_rendered_and_sequences_stay_contiguous(fs):
    fs.keep_events = 0
    c = RawClient(fs.port).login(events="CHANNEL_ANSWER CUSTOM conference::maintenance")
    try:
        fs.wait_for_subscriber()
        fs.call_user_to_conference("1000", "3000").hangup("a")
        call = fs.call_user_to_user("1000", "1001").ring().answer()
        call.hangup("a")
        fs.heartbeat()                                   # not subscribed: not rendered
        got = c.events(until="CHANNEL_ANSWER")           # conference caller answered
        got += c.events(until="CHANNEL_ANSWER") + c.events(until="CHANNEL_ANSWER")
        names = [n for n, _, _ in got]
        assert names.count("CHANNEL_ANSWER") == 3 and names.count("CUSTOM") == 2
        assert fs.rendered == 5
        seqs = [int(dict(h)["Event-Sequence"]) for _, h, _ in got]
        assert seqs == sorted(seqs)
    finally:
        c.close()


def test_filters_still_apply_to_rendered_events(fs):
    fs.keep_events = 0
    c = RawClient(fs.port).login(events="ALL")
    try:
        assert c.command("filter Event-Name HEARTBEAT")[0]["Reply-Text"].startswith("+OK")
        fs.wait_for_subscriber()
        fs.call_user_to_user("1000", "1001").ring().answer().hangup("a")
        fs.heartbeat()
        assert [n for n, _, _ in c.events(until="HEARTBEAT")] == ["HEARTBEAT"]   # nothing else got through
        assert fs.rendered == fs.seq   # with ALL every event may be wanted: all rendered, then filtered
    finally:
        c.close()


def test_event_and_command_histories_are_bounded_with_monotonic_counters(fs):
    fs.keep_events, fs.keep_commands = 100, 10
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    for _ in range(10):
        fs.heartbeat()
    since = fs.event_count
    for _ in range(200):
        fs.heartbeat()
    assert 100 <= len(fs.events) <= 100 + 64 and fs.event_count == since + 200
    assert fs.wait_for_event("HEARTBEAT", since=since + 150).seq == fs.events[-1].seq - 49
    last = fs.wait_for_event("HEARTBEAT", since=fs.event_count - 1)
    assert last is fs.events[-1]
    with pytest.raises(TimeoutError):
        fs.wait_for_event("HEARTBEAT", since=fs.event_count, timeout=0.05)
    c = RawClient(fs.port).login(events=None)
    try:
        for i in range(100):
            assert c.command("api uuid_getvar %s n%d" % (call.a.uuid, i))[1] == b"_undef_"
        assert fs.command_count == 100 and len(fs.commands) <= 10 + 64
        rec = fs.wait_for_command(r"n98$")
        assert rec.index == 98
        assert fs.wait_for_command(r"uuid_getvar", since=rec.index + 1).line.endswith("n99")
    finally:
        c.close()


def test_ended_calls_are_forgotten_and_last_sent_is_bounded(fs, monkeypatch):
    monkeypatch.setattr(switch, "CALLS_PRUNE_MIN", 5)
    monkeypatch.setattr(server, "LAST_SENT_MAX", 8)
    c = RawClient(fs.port).login(events="CHANNEL_ANSWER")
    try:
        fs.wait_for_subscriber()
        live = fs.call_user_to_user("1000", "1001").ring().answer()
        for _ in range(30):
            fs.call_user_to_user("1002", "1003").ring().answer().hangup("a")
        assert live in fs.calls and len(fs.calls) <= 12
        assert all(not x.ended for x in fs.calls[:1])
        for _ in range(62):
            c.events(until="CHANNEL_ANSWER")
        conn = fs.connections[0]
        fs.call_user_to_user("1000", "1001").ring().answer()   # one more write after the reads
        c.events(until="CHANNEL_ANSWER")
        c.events(until="CHANNEL_ANSWER")
        assert len(conn.last_sent) <= 8 + 1 + 2
    finally:
        c.close()


def test_load_run_keeps_only_stubs_of_ended_calls(fs):
    run = fs.load(calls=30, cps=1000, hold=0.01, ring=0.0)
    run.wait(timeout=20)
    assert run.started == run.finished == 30 and len(run.calls) == 30
    assert all(isinstance(c, load.EndedCall) and len(c.a.uuid) == 36 for c in run.calls)
    assert len({c.a.uuid for c in run.calls}) == 30 and not fs.legs
