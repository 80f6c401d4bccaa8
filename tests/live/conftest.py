"""The live tier: a real FreeSWITCH with callrec's drop-in, the product started by its documented commands, real SIP
phones (sipp), an SMTP server on loopback. Skipped on a machine without FreeSWITCH or sipp; required in CI.

One switch, one product and one SMTP server serve the whole session (FreeSWITCH takes seconds to start); each test
sets the policies it needs through the REST API and waits until the controller has loaded them.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.smtp_server import SmtpServer, free_port
from tests.tools import require_tools

from .sip import Phone
from .switch import ROOT, FreeSwitch, free_media_port, free_udp_tcp_port, installed

VENV_BIN = Path(sys.executable).parent
PHONES = {"1000": 440.0, "1001": 700.0, "1002": 1000.0, "1003": 1300.0}  # each party talks in its own tone
DEMO_PRODUCT = {"1000": "Record everything", "1001": "Record everything", "1002": "Manual only",
                "1003": "No recording"}
NOTHING = dict(enabled=True, auto_record_outgoing=False, auto_record_incoming=False, auto_record_redirected=False,
               manual_control=False, announcement=False, email_delivery=False)


FIGURES: list[str] = []  # measured figures the live tier prints at the end (never asserted: shared machines)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("live tier: measured on the real switch")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.live)


def wait_until(what: str, check, timeout: float = 30, every: float = 0.2):
    """Poll an outside system (FreeSWITCH, the API, a log file) until `check()` is truthy, under a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)  # polling a system in another process; no event to wait on


# ---------------------------------------------------------------------------------------------- the switch
@pytest.fixture(scope="session")
def switch(tmp_path_factory):
    if not installed():
        from tests.tools import skip_or_fail

        skip_or_fail("FreeSWITCH is not installed (apt-get install -y ../shared/freeswitch/debian/freeswitch_*.deb)")
    require_tools("sipp", "fs_cli")
    fs = FreeSwitch(tmp_path_factory.mktemp("freeswitch"))
    fs.configure()
    fs.start()
    yield fs
    fs.stop()


# ----------------------------------------------------------------------------------------------- the product
class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code} {error.read()[:400]!r}") from None

    def get(self, path):
        return self.call("GET", path)

    def patch(self, path, body):
        return self.call("PATCH", path, body)

    def post(self, path, body):
        return self.call("POST", path, body)

    def items(self, path):
        return self.get(path)["items"]


@dataclass
class Product:
    """The web UI and the controller, started as the README says, against the live switch."""

    switch: FreeSwitch
    smtp: SmtpServer
    base: Path
    env: dict = field(default_factory=dict)
    web: subprocess.Popen | None = None
    controller: subprocess.Popen | None = None
    api: Api | None = None
    controller_log: Path | None = None
    metrics_port: int = 0

    def flask(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "flask"), "--app", "webui", *args], env=self.env, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_controller(self) -> None:
        with self.controller_log.open("a") as log:
            self.controller = subprocess.Popen([str(VENV_BIN / "python"), "-m", "controller", "--log-level", "DEBUG"],
                                               env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_until("the controller to connect to FreeSWITCH", lambda: self.health().get("esl_connected"), 30)

    def stop_controller(self, sig=signal.SIGTERM) -> None:
        if self.controller and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(20)

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return {}
        except urllib.error.HTTPError as error:
            return json.loads(error.read() or b"{}")

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else None

    def events(self, name: str) -> float:
        """How many events of that name the controller has handled (its /metrics)."""
        return self.metric(f'callrec_events_total{{event="{name}"}}') or 0

    def log_text(self) -> str:
        return self.controller_log.read_text(errors="replace")

    def commands(self, pattern: str = "") -> list[str]:
        """The API commands the controller sent to FreeSWITCH (its DEBUG log), optionally filtered."""
        sent = re.findall(r"api sent: (.*)$", self.log_text(), re.M)
        return [c for c in sent if re.search(pattern, c)]

    def policies_loaded(self, revision_before: float) -> None:
        wait_until("the controller to load the new policies",
                   lambda: (self.metric("callrec_policy_revision") or 0) > revision_before, 15, 0.1)

    def set_policy(self, number: str, **flags) -> None:
        """Give account `number` its own configuration (Override on) and wait until the controller has it."""
        before = self.metric("callrec_policy_revision") or 0
        account = self.account(number)
        self.api.patch(f"/accounts/{account['id']}",
                       {"override": True, "call_recording": {**NOTHING, **flags}})
        self.policies_loaded(before)

    def account(self, number: str) -> dict:
        return next(a for a in self.api.items("/accounts?per_page=100") if a["number"] == number)

    def recordings(self, **filters) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in {"per_page": 100, **filters}.items())
        return self.api.items(f"/recordings?{query}")

    def finished_recordings(self, call_uuid: str, count: int, timeout: float = 30) -> list[dict]:
        def done():
            rows = self.recordings(call_uuid=call_uuid)
            return rows if len(rows) >= count and all(r["status"] != "recording" for r in rows) else None
        return wait_until(f"{count} finalised recording(s) of call {call_uuid}", done, timeout)


@pytest.fixture(scope="session")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def product(switch, smtp, tmp_path_factory):
    base = tmp_path_factory.mktemp("product")
    web_port, metrics_port = free_port(), free_port()
    env = {**os.environ,
           "CALLREC_DATABASE_URL": f"sqlite:///{base}/callrec.db",
           "CALLREC_RECORDINGS_DIR": str(switch.recordings),
           "CALLREC_SOUNDS_DIR": str(switch.sounds),
           "CALLREC_ESL_PORT": str(switch.esl_port),
           "CALLREC_ESL_PASSWORD": switch.esl_password,
           "CALLREC_SECRET_KEY": "live-tier-secret-key-0123456789abcdef",
           "CALLREC_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
           "CALLREC_METRICS_PORT": str(metrics_port),
           "CALLREC_POLICY_REFRESH_SECONDS": "0.2",
           "CALLREC_DELIVERY_INTERVAL": "1",
           "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(smtp.port),
           "MAIL_DEFAULT_SENDER": "callrec@live.test"}
    env.pop("CALLREC_CONFIG_FILE", None)
    p = Product(switch, smtp, base, env, controller_log=base / "controller.log", metrics_port=metrics_port)
    p.flask("db", "upgrade")
    p.flask("seed-demo")
    token = p.flask("create-token", "live-tier").strip().splitlines()[-1]
    with (base / "web.log").open("w") as web_log:
        p.web = subprocess.Popen([str(VENV_BIN / "flask"), "--app", "webui", "run", "--port", str(web_port)],
                                 env=env, cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT)
    p.api = Api(f"http://127.0.0.1:{web_port}/api/v1", token)

    def web_up():
        try:
            return p.api.get("/settings")
        except (OSError, AssertionError):
            return None
    wait_until("the web UI", web_up, 30)
    p.api.patch("/settings", {"records_delivery_enabled": True})
    p.start_controller()
    yield p
    p.stop_controller()
    p.web.terminate()
    p.web.wait(10)


@pytest.fixture(scope="session")
def _phones(switch, tmp_path_factory):
    """The demo users' phones, each registered once on its own port (a new contact per test would make
    FreeSWITCH fork every call to the dead ones too)."""
    workdir = tmp_path_factory.mktemp("sip")
    made: dict[str, Phone] = {}

    def phone(number: str) -> Phone:
        if number not in made:
            made[number] = Phone(number, free_udp_tcp_port(), free_media_port(), PHONES[number], switch, workdir)
            made[number].register()
        return made[number]
    yield phone
    for p in made.values():
        p.stop()


@pytest.fixture
def phones(_phones, switch):
    """Phones for this test; afterwards every sipp of the test is stopped and the switch has no call left."""
    used: list[Phone] = []

    def phone(number: str) -> Phone:
        p = _phones(number)
        used.append(p)
        return p
    yield phone
    for p in used:
        p.stop()
        p.runs.clear()
    switch.wait_idle()


@pytest.fixture
def mailbox(smtp):
    """Messages received during this test only."""
    before = len(smtp.messages)

    class Box:
        def messages(self):
            return smtp.messages[before:]

        def wait(self, count: int, timeout: float = 30):
            return wait_until(f"{count} email(s)", lambda: self.messages() if len(self.messages()) >= count
                              else None, timeout)
    return Box()
