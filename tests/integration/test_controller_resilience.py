"""Faults injected by the emulator (and the database): the controller survives and keeps one recording."""
from __future__ import annotations

import logging
import threading
import time

import gevent.event
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from controller.esl import EslConnection, EslTimeout
from tests.fakeswitch import LOST_EVENTS_NOTICE, SHUTDOWN_NOTICE, FakeSwitch
from tests.integration.controller_harness import Harness, wait_for


def _recorded_call(h, caller="1000", callee="1001"):
    call = h.fs.call_user_to_user(caller, callee)
    call.answer()
    h.settle()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    call.talk(seconds=1.5)
    return call


def test_a_malformed_event_never_stops_the_loop(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    h.fs.send_raw(b"Content-Length: 25\nContent-Type: text/event-plain\n\nno colon here\n%%%zz: \xff\n\n")
    h.fs.send_raw(b"Content-Length: 12\nContent-Type: text/event-plain\n\nEvent-Name: \n")
    h.fs.send_raw(b"Content-Type: text/event-plain\nContent-Length: nonsense\n\n")
    call = _recorded_call(h)
    call.hangup("a")
    assert h.wait_finalised()[0].status == "completed"
    assert h.controller.esl.reconnects == 0


def test_a_failing_handler_never_stops_the_loop_and_is_logged_with_the_call_uuid(h, caplog):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()

    def boom(event):
        raise RuntimeError("handler bug")

    h.controller.esl._handlers["CHANNEL_ANSWER"].insert(0, boom)
    with caplog.at_level(logging.ERROR, logger="controller.esl"):
        call = _recorded_call(h)
    call.hangup("a")
    assert h.wait_finalised()[0].status == "completed"
    failures = [r for r in caplog.records if "handler bug" in str(r.exc_info)]
    assert failures and call.a.uuid in failures[0].getMessage()


def test_fragmented_frames_are_reassembled(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    h.fs.fragment_frames(7)
    call = _recorded_call(h)
    call.hangup("a")
    h.fs.fragment_frames(0)
    assert h.wait_finalised()[0].status == "completed"


def test_connection_lost_without_a_disconnect_notice_reconnects_and_keeps_one_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    call = _recorded_call(h)
    h.fs.drop_connections()  # EOF, no text/disconnect-notice: like a crash of the network path
    wait_for(lambda: h.controller.esl.reconnects == 1 and h.controller.esl.connected, 5, "the reconnection")
    wait_for(lambda: h.controller.resync.runs == 2, 5, "the resync")
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert rec.status == "completed"
    assert len(h.commands(r"^uuid_record %s start" % call.a.uuid)) == 1


def test_a_command_waiting_for_its_reply_fails_at_once_when_the_connection_drops(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    h.fs.drop_on_command(r"^uuid_record")
    call = h.fs.call_user_to_user("1000", "1001")
    started = time.monotonic()
    call.answer()
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    wait_for(lambda: h.controller.metrics.recordings_failed._value.get() == 1, 5, "the failed command")
    assert time.monotonic() - started < 1.5  # well before the 2 s command timeout: it did not hang
    # after the reconnection the resync starts the recording the drop interrupted
    wait_for(lambda: h.controller.esl.reconnects == 1, 5, "the reconnection")
    h.wait_command(r"^uuid_record %s start" % call.a.uuid, since=h.commands(r"^uuid_record")[0].index + 1)
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    assert h.wait_finalised()[0].status == "completed"


def test_a_late_reply_is_waited_for_and_later_commands_keep_their_own_replies(app, caplog):
    # FreeSWITCH answers in order: past CALLREC_ESL_COMMAND_TIMEOUT a uuid_record is reported, not given up (giving
    # up would leave a file FreeSWITCH did record with no row); its late reply completes it.
    h = Harness(app, CALLREC_ESL_COMMAND_TIMEOUT=0.3)
    try:
        h.account("1000", enabled=True, auto_record_outgoing=True)
        h.start()
        h.fs.delay_replies(1.0, r"^uuid_record")
        with caplog.at_level(logging.WARNING, logger="controller.esl"):
            first = h.fs.call_user_to_user("1000", "1001")
            first.answer()
            wait_for(lambda: any("still waiting" in r.getMessage() for r in caplog.records), 3, "the timeout")
            h.settle()  # the late reply arrived and completed the first recording
            second = _recorded_call(h)
        assert any("late reply" in r.getMessage() for r in caplog.records)
        assert h.controller.metrics.recordings_failed._value.get() == 0
        first.talk(seconds=1.5)
        second.hangup("a")
        first.hangup("a")
        rows = h.wait_finalised(2)
        assert sorted(r.leg_uuid for r in rows) == sorted([first.a.uuid, second.a.uuid])
        assert {r.status for r in rows} == {"completed"}
    finally:
        h.stop()


def test_authentication_is_time_limited():
    # A hung FreeSWITCH: the TCP handshake completes but `auth/request` never comes.
    with FakeSwitch(silent_accept=True) as fs:
        conn = EslConnection("127.0.0.1", fs.port, "ClueCon", auth_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(EslTimeout):
            conn.connect()
        assert time.monotonic() - started < 1.0
        assert fs.commands == []  # it never got as far as sending anything the switch understood


def test_overload_keeps_reading_stores_events_compact_and_loses_no_decision(app, caplog):
    # The queue's budget (here 4 events) only changes how events are kept (compact) and sheds the ones that
    # cannot change a decision (HEARTBEAT, unhandled); every recording decision is still made.
    h = Harness(app, CALLREC_EVENT_QUEUE_SIZE=4)
    try:
        h.account("1000", enabled=True, auto_record_outgoing=True)
        h.start()
        with caplog.at_level(logging.WARNING, logger="controller.esl"):
            calls = [h.fs.call_user_to_user("1000", "1001") for _ in range(15)]
            for call in calls:
                call.answer()  # a burst: every event is on the wire before the controller runs
            h.settle(timeout=10)
        assert h.controller.metrics.queue_overloads._value.get() > 0
        assert any("overload" in r.getMessage() for r in caplog.records)
        started = {c.line.split()[1] for c in h.commands(r"^uuid_record \S+ start")}
        assert started == {c.a.uuid for c in calls}  # nothing lost
        for call in calls:
            call.hangup("a")
        assert len(h.wait_finalised(15, timeout=10)) == 15
    finally:
        h.stop()


def test_command_replies_are_read_even_when_the_event_queue_is_full(app):
    # Replies share the TCP stream with the events: with the dispatcher stuck behind a full queue, the reply of a
    # uuid_record already sent must still be read (the old "pause reading when full" policy lost the decision).
    h = Harness(app, CALLREC_EVENT_QUEUE_SIZE=4)
    try:
        h.account("1000", enabled=True, auto_record_outgoing=True)
        h.start()
        esl = h.controller.esl
        before, after = gevent.event.Event(), gevent.event.Event()
        held = []

        def hold_before(event):  # the dispatcher waits here (a slow handler) before the recorder's handler runs
            if not held:
                held.append("before")
                before.wait()

        def hold_after(event):  # ... and here, after the recorder's handler wrote the uuid_record
            if len(held) == 1:
                held.append("after")
                after.wait()

        esl._handlers["CHANNEL_BRIDGE"].insert(0, hold_before)
        esl._handlers["CHANNEL_BRIDGE"].append(hold_after)
        first = h.fs.call_user_to_user("1000", "1001")
        first.answer()
        wait_for(lambda: held == ["before"], 5, "the dispatcher to be held")
        burst = [h.fs.call_user_to_user("1000", "1001") for _ in range(8)]
        for call in burst:
            call.answer()  # events pile up behind the held dispatcher: the queue goes over its budget
        wait_for(lambda: esl.conn.events.overloaded, 5, "the queue to be over its budget")
        before.set()  # the uuid_record of the first call goes out; its reply comes behind the queued events
        h.wait_command(r"^uuid_record %s start" % first.a.uuid)
        wait_for(lambda: h.controller.metrics.recordings_started.labels("auto")._value.get() == 1, 5,
                 "the reply to be read while the dispatcher is still held")
        assert held == ["before", "after"] and not after.is_set()
        after.set()
        h.settle(timeout=10)
        started = {c.line.split()[1] for c in h.commands(r"^uuid_record \S+ start")}
        assert started == {c.a.uuid for c in [first] + burst}
        assert h.controller.metrics.recordings_failed._value.get() == 0
        for call in [first] + burst:
            call.hangup("a")
        assert len(h.wait_finalised(9, timeout=10)) == 9
    finally:
        h.stop()


def test_controller_restart_mid_call_keeps_exactly_one_recording(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.start()
    call = _recorded_call(h)
    h.settle()
    h.controller.stop()
    h.start()  # a new controller process
    wait_for(lambda: h.controller.resync.runs == 1, 5, "the resync")
    h.settle()
    call.talk(seconds=2)
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert rec.status == "completed" and rec.delivery.status == "pending"
    assert len(h.commands(r"^uuid_record %s start" % call.a.uuid)) == 1


def test_calls_that_ended_while_the_controller_was_away_are_finalised_and_delivered(h):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.start()
    call = _recorded_call(h)
    call.talk(seconds=2)
    h.settle()
    h.controller.stop()
    call.hangup("a")  # nobody listens
    h.start()
    (rec,) = h.wait_finalised()
    assert rec.status == "completed" and rec.delivery.status == "pending"


def test_freeswitch_restart_finalises_the_recordings_of_the_calls_it_lost(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    call = _recorded_call(h)
    call.talk(seconds=2)
    h.settle()
    old_core = h.fs.core_uuid
    h.fs.restart(notice=SHUTDOWN_NOTICE)
    wait_for(lambda: h.controller.esl.reconnects == 1, 5, "the reconnection")
    (rec,) = h.wait_finalised()
    assert rec.status == "completed" and rec.leg_uuid == call.a.uuid
    h.settle()
    assert h.controller.esl.core_uuid == h.fs.core_uuid != old_core


def test_a_database_outage_never_kills_the_controller_and_it_keeps_the_last_known_policies(h, caplog):
    h.account("1000", enabled=True, auto_record_outgoing=True, email_delivery=True)
    h.start()
    with h.app.app_context():
        from callrec.models import db
        engine = db.engine
    down = threading.Event()

    def fail(conn, cursor, statement, parameters, context, executemany):
        if down.is_set():
            raise OperationalError(statement, parameters, Exception("database is down (injected)"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        down.set()
        with caplog.at_level(logging.ERROR):
            wait_for(lambda: not h.controller.policies.db_ok, 5, "the policy poller to notice")
            call = h.fs.call_user_to_user("1000", "1001")
            call.answer()
            h.wait_command(r"^uuid_record %s start" % call.a.uuid)  # policy from the cache: still recorded
            call.talk(seconds=2)
            call.hangup("a")
            wait_for(lambda: not h.controller.writes.db_ok and h.controller.writes.jobs, 5,
                     "writes to fail and wait in memory")
        assert any("keeping the last known policies" in r.getMessage() for r in caplog.records)
        assert h.controller.esl.connected
    finally:
        down.clear()
    (rec,) = h.wait_finalised(timeout=15)
    assert rec.status == "completed" and rec.delivery.status == "pending"
    event.remove(engine, "before_cursor_execute", fail)


def test_freeswitch_killing_a_slow_listener_is_survived_with_reconnect_and_resync(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.account("1002", enabled=True, auto_record_outgoing=True)
    h.start()
    reasons = []
    h.controller.esl.on_disconnected.append(reasons.append)
    ongoing = _recorded_call(h)
    with h.fs.slow_consumer_kill() as (killed,):
        # the controller fell behind: FreeSWITCH's queue for it is full, these events are lost to it
        missed = h.fs.call_user_to_user("1002", "1003")
        missed.answer()
        ongoing.talk(seconds=1)
    # then FreeSWITCH sends `killed listener because of lost events` and closes the socket
    wait_for(lambda: h.controller.esl.reconnects == 1 and h.controller.esl.connected, 5, "the reconnection")
    wait_for(lambda: h.controller.resync.runs == 2, 5, "the resync")
    assert reasons and LOST_EVENTS_NOTICE.strip() in reasons[0]
    h.settle()
    start = h.wait_command(r"^uuid_record %s start" % missed.a.uuid)
    assert start.conn != killed.id  # picked up by the resync on the new connection, not from lost events
    h.settle()
    missed.talk(seconds=2)
    ongoing.talk(seconds=2)
    missed.hangup("a")
    ongoing.hangup("a")
    rows = h.wait_finalised(2)
    assert sorted((r.account_number, r.leg_uuid, r.status) for r in rows) == sorted([
        ("1000", ongoing.a.uuid, "completed"), ("1002", missed.a.uuid, "completed")])
    assert len(h.commands(r"^uuid_record %s start" % ongoing.a.uuid)) == 1  # exactly one recording
    assert len(h.commands(r"^uuid_record %s start" % missed.a.uuid)) == 1
