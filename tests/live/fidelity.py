"""Emulator fidelity: what an Event Socket client (subscribed like the controller) receives from a switch, real or
emulated, reduced to what can be compared: per leg role the event names in order, per (role, event) the header
names (plus the `variable_*` names the controller reads), and the shape of command replies.

Plain blocking sockets and a reader thread: the same client talks to FreeSWITCH and to tests.fakeswitch.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field

# controller/builder.py SUBSCRIBED_EVENTS (not imported: importing the controller pulls gevent and Flask in)
SUBSCRIBED = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE",
              "DTMF", "RECORD_START", "RECORD_STOP", "HEARTBEAT", "CUSTOM", "conference::maintenance"]

# the channel variables the controller reads (controller/facts.py, controller/esl.py _PREFETCH_NAMES, recorder.py)
CONTROLLER_VARIABLES = frozenset("variable_" + name for name in (
    "callrec_account", "callrec_redirected_by", "user_name", "dialed_user", "call_uuid", "sip_refer_to",
    "transfer_source", "transfer_to", "att_xfer_result", "endpoint_disposition", "current_application",
    "current_application_data", "originator", "sip_h_Diversion", "sofia_record_file", "record_ms",
    "bridge_uuid", "signal_bond"))

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class EslError(AssertionError):
    pass


class Esl:
    """One inbound Event Socket connection: `api()` on its own, or `subscribe()` and let a thread collect."""

    def __init__(self, port: int, password: str, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.reader: threading.Thread | None = None
        self.closed = False
        head, _ = self._frame()
        if head.get("Content-Type") != "auth/request":
            raise EslError(f"no auth/request: {head}")
        reply = self._command(f"auth {password}")
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise EslError(f"auth refused: {reply}")

    def _frame(self) -> tuple[dict, bytes]:
        head = {}
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("connection closed")
            if line == b"\n":
                if head:
                    break
                continue
            key, _, val = line.decode().rstrip("\n").partition(": ")
            head[key] = val
        body = self.file.read(int(head["Content-Length"])) if "Content-Length" in head else b""
        return head, body

    def _command(self, line: str) -> dict:
        self.sock.sendall((line + "\n\n").encode())
        while True:
            head, _ = self._frame()
            if head.get("Content-Type") == "command/reply":
                return head

    def api(self, command: str) -> str:
        assert self.reader is None, "api on a subscribed connection"
        self.sock.sendall(f"api {command}\n\n".encode())
        while True:
            head, body = self._frame()
            if head.get("Content-Type") == "api/response":
                return body.decode(errors="replace")

    def subscribe(self, events: list[str]) -> None:
        reply = self._command("event plain " + " ".join(events))
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise EslError(f"event plain refused: {reply}")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while True:
                head, body = self._frame()
                if head.get("Content-Type") != "text/event-plain":
                    continue
                event = parse_plain(body.decode(errors="replace"))
                with self.cond:
                    self.events.append(event)
                    self.cond.notify_all()
        except (EOFError, OSError, ValueError):
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def wait_for(self, what: str, predicate, timeout: float = 30):
        """Block until `predicate(events)` is truthy (the reader thread notifies on every event)."""
        with self.cond:
            value = self.cond.wait_for(lambda: predicate(self.events) or self.closed, timeout)
            value = predicate(self.events)
        if not value:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; got "
                                 f"{[(e.get('Event-Name'), e.get('Unique-ID')) for e in self.events]}")
        return value

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for obj in (self.file, self.sock):
            try:
                obj.close()
            except OSError:
                pass
        if self.reader is not None:
            self.reader.join(5)


def parse_plain(text: str) -> dict:
    """A text/event-plain body -> ordered {header: URL-decoded value} (first occurrence wins)."""
    headers: dict = {}
    block = text.split("\n\n", 1)[0]
    for line in block.split("\n"):
        if not line:
            continue
        key, _, val = line.partition(": ")
        headers.setdefault(key, urllib.parse.unquote(val))
    return headers


# ------------------------------------------------------------------------------------------- reduction
def role_of(event: dict, caller: str, callee: str) -> str | None:
    """A = the caller's leg (FreeSWITCH received it from the caller), B = the leg it originated to the callee,
    LA/LB = the two halves of a loopback channel (the voicemail divert); None for anything else."""
    name = event.get("Channel-Name", "")
    if name.startswith("loopback/"):
        return "LA" if name.endswith("-a") else "LB"
    direction = event.get("Call-Direction")
    if direction == "inbound" and (event.get("variable_user_name") == caller
                                   or event.get("Caller-Caller-ID-Number") == caller):
        return "A"
    if direction == "outbound" and (event.get("variable_dialed_user") == callee
                                    or event.get("Caller-Callee-ID-Number") == callee):
        return "B"
    return None


def event_label(event: dict) -> str:
    name = event.get("Event-Name", "?")
    if name == "CUSTOM":
        return f"CUSTOM {event.get('Event-Subclass', '')}"
    if name == "CHANNEL_EXECUTE":
        return f"CHANNEL_EXECUTE {event.get('Application', '')}"
    return name


@dataclass
class Capture:
    """One scenario's events on one switch, by leg role."""

    sequences: dict = field(default_factory=dict)   # role -> [event label, ...]
    headers: dict = field(default_factory=dict)     # (role, label) -> set of header names
    replies: dict = field(default_factory=dict)     # command label -> normalised reply

    @classmethod
    def of(cls, events: list[dict], caller: str, callee: str) -> "Capture":
        roles: dict[str, str] = {}
        for event in events:
            uuid = event.get("Unique-ID")
            if uuid and uuid not in roles and (role := role_of(event, caller, callee)):
                roles[uuid] = role
        capture = cls()
        for event in events:
            label = event_label(event)
            if label == "HEARTBEAT":
                continue  # a timer, not a call's event
            role = roles.get(event.get("Unique-ID", ""))
            if role is None:
                continue
            capture.sequences.setdefault(role, []).append(label)
            names = {k for k in event if not k.startswith("variable_") or k in CONTROLLER_VARIABLES}
            names.discard("Content-Length")  # the body's length (DTMF/RECV_INFO carry none on one side)
            capture.headers.setdefault((role, label), set()).update(names)
        return capture


def normalise_reply(text: str) -> str:
    """What may differ between two switches removed: uuids, paths, numbers inside values."""
    text = UUID.sub("<uuid>", text)
    text = re.sub(r"(/[\w.\-]+)+", "<path>", text)
    return text


def json_shape(text: str, controller_keys: frozenset | None = None) -> str:
    """A JSON reply as its shape: the keys (of rows, for `show channels as json`); values only where they are
    fixed by the protocol (row_count)."""
    try:
        data = json.loads(text)
    except ValueError:
        return "not JSON: " + normalise_reply(text.strip())[:80]
    if isinstance(data, dict) and "rows" in data:
        rows = data.get("rows") or []
        keys = sorted({k for row in rows for k in row})
        return f"row_count={data.get('row_count')} rows={len(rows)} keys={keys}"
    if isinstance(data, dict):
        keys = sorted(k for k in data if not k.startswith("variable_")
                      or controller_keys is None or k in controller_keys)
        return f"keys={keys}"
    return type(data).__name__


def compare(scenario: str, live: Capture, emulated: Capture) -> tuple[list[str], dict]:
    """The differences as stable keys (see ALLOWED in test_live_fidelity.py) and what was compared."""
    diffs: list[str] = []
    counts = {"events": 0, "headers": 0, "replies": 0}
    for role in sorted(set(live.sequences) | set(emulated.sequences)):
        a, b = live.sequences.get(role, []), emulated.sequences.get(role, [])
        counts["events"] += max(len(a), len(b))
        if a != b:
            diffs.append(f"sequence {scenario} {role}: live {a} emulator {b}")
    for key in sorted(set(live.headers) & set(emulated.headers)):
        role, label = key
        a, b = live.headers[key], emulated.headers[key]
        counts["headers"] += len(a | b)
        for name in sorted(a - b):
            diffs.append(f"header {label} {role} {name}: only live")
        for name in sorted(b - a):
            diffs.append(f"header {label} {role} {name}: only emulator")
    for command in live.replies.keys() | emulated.replies.keys():
        a, b = live.replies.get(command), emulated.replies.get(command)
        counts["replies"] += 1
        if a != b:
            diffs.append(f"reply {command}: live {a!r} emulator {b!r}")
    return diffs, counts
