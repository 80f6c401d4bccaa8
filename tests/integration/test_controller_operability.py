"""Metrics, health, the dashboard heartbeat, log lines, and `python -m controller` without FreeSWITCH."""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from sqlalchemy import event as sa_event

from callrec.models import ControllerStatus, db
from tests.integration.controller_harness import PROJECT_ROOT, Harness, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def h(app):
    harness = Harness(app, CALLREC_METRICS_PORT=_free_port())
    yield harness
    harness.stop()


def _get(h, path):
    url = f"http://127.0.0.1:{h.config['CALLREC_METRICS_PORT']}{path}"
    # urllib blocks: run it off the hub so the controller's WSGI server can answer
    def fetch():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
    return h.off_hub(fetch)


def test_metrics_count_events_recordings_connection_queue_and_reconnects(h):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    h.fs.drop_connections()
    wait_for(lambda: h.controller.esl.reconnects == 1 and h.controller.esl.connected, 5, "the reconnection")
    status, text = _get(h, "/metrics")
    assert status == 200
    assert 'callrec_events_total{event="CHANNEL_BRIDGE"} 1.0' in text
    assert 'callrec_recordings_started_total{trigger="auto"} 1.0' in text
    assert "callrec_recordings_failed_total 0.0" in text
    assert "callrec_esl_connected 1.0" in text
    assert "callrec_event_queue_depth" in text
    assert "callrec_esl_reconnects_total 1.0" in text


def test_healthz_reports_the_event_socket_connection(h):
    h.start()
    status, body = _get(h, "/healthz")
    assert status == 200 and json.loads(body)["esl_connected"] is True
    h.fs.restart(down=True)
    wait_for(lambda: not h.controller.esl.connected, 5, "the disconnection")
    status, body = _get(h, "/healthz")
    assert status == 503 and json.loads(body)["esl_connected"] is False
    h.fs.start()


def test_the_heartbeat_row_is_written_every_few_seconds_not_per_event(h):
    h.account("1000", enabled=True)
    with h.app.app_context():
        engine = db.engine
    writes = []

    def count(conn, cursor, statement, *args):
        if "controller_status" in statement and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            writes.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        h.start()
        for _ in range(20):
            call = h.fs.call_user_to_user("1000", "1001")
            call.answer()
            call.hangup("a")
        h.settle()

        def row():
            with h.app.app_context():
                status = db.session.get(ControllerStatus, "test-node")
                return status if status is not None and status.last_event_at is not None else None

        status = wait_for(row, 5, "the heartbeat row")
        assert status.connected and status.core_uuid == h.fs.core_uuid
        assert len(writes) < 20  # hundreds of events, a handful of heartbeats
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)


def test_call_log_lines_carry_the_call_uuid(h, caplog):
    h.account("1000", enabled=True, auto_record_outgoing=True)
    h.start()
    with caplog.at_level(logging.INFO, logger="controller"):
        call = h.fs.call_user_to_user("1000", "1001")
        call.answer()
        h.settle()
        call.talk(seconds=2)
        call.hangup("a")
        h.wait_finalised()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("controller.recorder")]
    assert lines and all(call.a.uuid in line for line in lines)


def test_python_m_controller_without_freeswitch_logs_that_it_is_waiting_and_retries(tmp_path):
    port = _free_port()  # nobody listens there
    env = dict(os.environ, CALLREC_ESL_PORT=str(port), CALLREC_METRICS_PORT="0",
               CALLREC_DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}", CALLREC_ESL_BACKOFF_MAX="0.2")
    proc = subprocess.Popen([sys.executable, "-m", "controller", "--log-level", "INFO", "--no-delivery"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if sum(f"waiting for FreeSWITCH at 127.0.0.1:{port}" in s for s in seen) >= 3:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert sum(f"waiting for FreeSWITCH at 127.0.0.1:{port}" in s for s in seen) >= 3, "".join(seen)
