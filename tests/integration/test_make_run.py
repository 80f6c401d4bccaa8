"""`make run` brings up the web UI and the controller, with no manual step (README quick start)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_serves_login_and_the_controller_waits_for_freeswitch(tmp_path):
    web_port, esl_port = _free_port(), _free_port()
    env = {**os.environ,
           "CALLREC_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "CALLREC_RECORDINGS_DIR": str(tmp_path / "recordings"),
           "CALLREC_WEB_PORT": str(web_port),
           "CALLREC_ESL_PORT": str(esl_port),
           "CALLREC_METRICS_PORT": "0"}
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    waiting = threading.Event()
    password_shown = threading.Event()
    listening = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if f"waiting for FreeSWITCH at 127.0.0.1:{esl_port}" in line:
                waiting.set()
            if f"Listening at: http://127.0.0.1:{web_port}" in line:
                listening.set()
            if "One-time password for admin:" in line:
                password_shown.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(60), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=10) as response:
            assert response.status == 200
        assert waiting.wait(30), "".join(lines)
        assert password_shown.is_set(), "".join(lines)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=5)
        proc.stdout.close()
