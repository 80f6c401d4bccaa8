"""greenswitch 0.0.19 (the controller's client) works against the emulator in the same process."""
import gevent.event
import greenswitch
import pytest


def test_greenswitch_inbound_esl_receives_events_and_runs_api(fs):
    seen = []
    answered = gevent.event.Event()

    def on_answer(event):
        seen.append(event.headers["Unique-ID"])
        if len(seen) == 2:
            answered.set()

    esl = greenswitch.InboundESL(host="127.0.0.1", port=fs.port, password="ClueCon")
    esl.connect()
    try:
        esl.register_handle("CHANNEL_ANSWER", on_answer)
        assert esl.send("event plain ALL").headers["Reply-Text"] == "+OK event listener enabled plain"
        fs.wait_for_subscriber(timeout=5)
        call = fs.call_user_to_user("1000", "1001").ring().answer()
        assert answered.wait(timeout=5)
        assert seen == [call.b.uuid, call.a.uuid]
        reply = esl.send("api uuid_getvar %s dialed_user" % call.b.uuid)
        assert reply.data == "1001"
        reply = esl.send("api uuid_record %s start %s/g.wav" % (call.a.uuid, fs.recordings_dir))
        assert reply.data == "+OK Success\n"
        assert fs.wait_for_command(r"^uuid_record \S+ start", timeout=5).reply == "+OK Success\n"
    finally:
        esl.stop()


def test_greenswitch_wrong_password_raises_value_error(fs):
    esl = greenswitch.InboundESL(host="127.0.0.1", port=fs.port, password="wrong")
    with pytest.raises(ValueError):
        esl.connect()


def test_greenswitch_sees_disconnect_notice_on_shutdown_restart(fs):
    gone = gevent.event.Event()
    esl = greenswitch.InboundESL(host="127.0.0.1", port=fs.port, password="ClueCon")
    esl.connect()
    esl.register_handle("DISCONNECT", lambda ev: gone.set())
    old = fs.core_uuid
    fs.restart()
    assert gone.wait(timeout=5)
    assert fs.core_uuid != old


def test_waits_keep_a_gevent_client_in_the_same_thread_running(fs):
    """A handler that reacts to CHANNEL_ANSWER with an api runs while the test blocks in
    fs.wait_for_command (the wait happens in gevent's threadpool, not on the hub)."""
    esl = greenswitch.InboundESL(host="127.0.0.1", port=fs.port, password="ClueCon")
    esl.connect()
    try:
        def on_answer(event):
            if event.headers.get("Call-Direction") == "inbound":
                esl.send("api uuid_record %s start %s/h.wav" % (event.headers["Unique-ID"], fs.recordings_dir))
        esl.register_handle("CHANNEL_ANSWER", on_answer)
        esl.send("event plain CHANNEL_ANSWER")
        fs.wait_for_subscriber(timeout=5)
        call = fs.call_user_to_user("1000", "1001").ring().answer()
        rec = fs.wait_for_command(r"^uuid_record %s start" % call.a.uuid, timeout=5)
        assert rec.trigger[0] == "CHANNEL_ANSWER" and rec.latency >= 0
        fs.wait_for_event("RECORD_START", uuid=call.a.uuid, timeout=5)
    finally:
        esl.stop()
