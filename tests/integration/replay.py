"""Replay a real FreeSWITCH event capture over a real Event Socket, byte-for-byte.

`ReplaySwitch` is an inbound Event Socket server (OS threads + blocking sockets, like the emulator in
`tests/fakeswitch`, which it does not use). It does the real handshake (`auth/request`, `+OK accepted`,
`+OK event listener enabled plain`; filters are accepted and ignored), then streams the event frames of a
capture file exactly as they were captured (outer `Content-Length`/`Content-Type` and the URL-encoded body,
untouched). The capture's own command/reply, api/response and disconnect frames are not replayed: they were
the capture-maker's conversation, not events.

The switch's *state* is the capture up to the current position (`position`): `show channels as json` lists
the legs that have been seen and not destroyed, `uuid_dump <uuid> json` returns the latest full headers
(an event that carried `variable_*`) of that leg, `uuid_exists` answers `true`/`false`. Commands get
FreeSWITCH's exact replies (see `_api_reply`) and are recorded with `after`: the index of the last event
streamed before the command arrived.

Pause points make tests deterministic without sleeps: `play(until=i)` streams up to and including event
`i` and returns when those bytes were written; `marker()` streams a HEARTBEAT that is not part of the capture
so a test can tell when the controller has handled everything before it (the controller counts the events
it handled). Waiting helpers block: call them off the gevent hub (see `controller_harness.Harness.off_hub`).

Captures that hold only an inner event body (comment lines starting with `#`, then headers, as in the
`CHANNEL_ANSWER_transferred_cgrates.txt` extract) are framed as FreeSWITCH would frame them.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

CAPTURES_DIR = Path("/work/shared/freeswitch/captures")
FS110_CALL = CAPTURES_DIR / "fs1.10-call-record-broadcast-dtmf.txt"
CGRATES_TRANSFERRED_ANSWER = CAPTURES_DIR / "CHANNEL_ANSWER_transferred_cgrates.txt"

# Headers of one event that describe the event rather than the channel: not part of a uuid_dump.
_EVENT_ONLY = re.compile(r"^(Bridge-[AB]-Unique-ID|DTMF-.*|Record-.*|Recording-Variable-.*|Playback-.*|"
                         r"Application.*|Hangup-Cause|Event-Subclass|Content-Length|_body)$")


def decode_headers(body: bytes) -> dict[str, str]:
    """Split first, then URL-decode each value (first occurrence wins), like the controller does."""
    text = body.decode("utf-8", "replace")
    headers: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].split("\n"):
        name, sep, value = line.partition(": ")
        if sep and name not in headers:
            headers[name] = unquote(value)
    return headers


@dataclass
class Frame:
    """One event of a capture: the wire bytes as captured, plus its decoded headers for lookups."""

    index: int
    wire: bytes
    body: bytes
    headers: dict[str, str] = field(repr=False)

    @property
    def name(self) -> str:
        name = self.headers.get("Event-Name", "")
        return self.headers.get("Event-Subclass", name) if name == "CUSTOM" else name

    @property
    def uuid(self) -> str:
        return self.headers.get("Unique-ID", "")

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


def frame_body(body: bytes, index: int = 0) -> Frame:
    """A Frame for an inner event body, framed as mod_event_socket frames a plain event."""
    if not body.endswith(b"\n\n"):
        body = body.rstrip(b"\n") + b"\n\n"
    wire = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body
    return Frame(index, wire, body, decode_headers(body))


def load_capture(path: str | Path) -> list[Frame]:
    """The event frames of a capture, in order (command replies, api responses and notices skipped)."""
    data = Path(path).read_bytes()
    if not (data.startswith(b"Content-") or data.startswith(b"\nContent-")):
        # an inner body only: drop the `#` comment lines in front of it
        lines = data.split(b"\n")
        while lines and (lines[0].startswith(b"#") or not lines[0].strip()):
            lines.pop(0)
        return [frame_body(b"\n".join(lines))]
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        while data[pos:pos + 1] == b"\n":
            pos += 1
        if pos >= len(data):
            break
        end = data.find(b"\n\n", pos)
        if end < 0:
            raise ValueError(f"{path}: truncated frame at byte {pos}")
        outer = {}
        for line in data[pos:end].decode("utf-8", "replace").split("\n"):
            name, _, value = line.partition(": ")
            outer[name] = value
        length = int(outer.get("Content-Length", "0") or 0)
        start = end + 2
        body = data[start:start + length]
        if len(body) != length:
            raise ValueError(f"{path}: frame at byte {pos} is shorter than its Content-Length")
        if outer.get("Content-Type") == "text/event-plain":
            frames.append(Frame(len(frames), data[pos:start + length], body, decode_headers(body)))
        pos = start + length
    return frames


def rewrite(frame: Frame, index: int, replace: dict[str, str] | None = None,
            add: list[tuple[str, str]] | None = None) -> Frame:
    """A copy of `frame` with some raw (still URL-encoded) header values replaced/added; re-framed."""
    lines = frame.body.decode("utf-8").split("\n\n", 1)[0].split("\n")
    out = []
    for line in lines:
        name, sep, value = line.partition(": ")
        if sep and replace and name in replace:
            value = replace[name]
        out.append(f"{name}: {value}" if sep else line)
    for name, value in add or ():
        out.append(f"{name}: {value}")
    return frame_body(("\n".join(out) + "\n\n").encode(), index)


@dataclass
class Command:
    line: str
    after: int          # index of the last event streamed before this command arrived (-1: none)
    reply: str


class ReplaySwitch:
    """See the module docstring."""

    def __init__(self, frames: list[Frame], password: str = "ClueCon", honour_subscriptions: bool = True):
        self.frames = frames
        self.password = password
        self.honour_subscriptions = honour_subscriptions
        self.position = -1            # the switch's state: events up to here have happened
        self.streamed = -1            # the last event written to the current connection
        self.commands: list[Command] = []
        self.subscriptions: set[str] = set()
        self.connections = 0
        self.markers_sent = 0
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "ReplaySwitch":
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name="replay-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping = True
        for sock in (self._listener, self._conn):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        with self._cond:
            self._cond.notify_all()

    def drop_connection(self) -> None:
        """Close the controller's connection without a disconnect notice (a crash or network loss)."""
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- the switch's state --------------------------------------------------------------------------
    def advance(self, until: int) -> None:
        """Let events up to `until` happen without streaming them (they happened before we connected)."""
        with self._cond:
            self.position = max(self.position, until)
            self.streamed = max(self.streamed, until)

    def live_legs(self) -> list[str]:
        live: dict[str, bool] = {}
        for frame in self.frames[:self.position + 1]:
            uuid = frame.uuid
            if not uuid:
                continue
            if frame.name == "CHANNEL_DESTROY":
                live.pop(uuid, None)
            elif uuid not in live and frame.name not in ("CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"):
                live[uuid] = True
        destroyed = {f.uuid for f in self.frames[:self.position + 1] if f.name == "CHANNEL_DESTROY"}
        return [u for u in live if u not in destroyed]

    def channel(self, uuid: str) -> dict[str, str] | None:
        """The latest full headers (with variables) of a live leg, as `uuid_dump` would show them."""
        if uuid not in self.live_legs():
            return None
        for frame in reversed(self.frames[:self.position + 1]):
            if frame.uuid == uuid and any(k.startswith("variable_") for k in frame.headers):
                dump = {k: v for k, v in frame.headers.items() if not _EVENT_ONLY.match(k)}
                dump["Event-Name"] = "CHANNEL_DATA"
                return dump
        return None

    # -- streaming -----------------------------------------------------------------------------------
    def index_of(self, name: str, nth: int = 1, uuid: str | None = None, start: int = 0) -> int:
        """Index of the nth event called `name` (optionally of one leg) from `start`."""
        seen = 0
        for frame in self.frames[start:]:
            if frame.name == name and (uuid is None or frame.uuid == uuid):
                seen += 1
                if seen == nth:
                    return frame.index
        raise LookupError(f"no event #{nth} named {name} (uuid {uuid}) in the capture")

    def wanted(self, frame: Frame) -> bool:
        if not self.honour_subscriptions or "ALL" in self.subscriptions:
            return True
        name = frame.headers.get("Event-Name", "")
        if name == "CUSTOM":
            return "CUSTOM" in self.subscriptions and frame.name in self.subscriptions
        return name in self.subscriptions

    def play(self, until: int | None = None) -> int:
        """Stream events after the current position up to and including `until` (default: all)."""
        last = len(self.frames) - 1 if until is None else until
        conn = self._wait_connection()
        for frame in self.frames[self.position + 1:last + 1]:
            # the event has happened before its bytes leave: a command it causes must see it as streamed
            with self._cond:
                self.position = self.streamed = frame.index
            if self.wanted(frame):
                with self._send_lock:
                    conn.sendall(frame.wire)
        return last

    def send_extra(self, frame: Frame) -> None:
        """Stream an event that is not in the capture (a synthesized variant of a captured one)."""
        conn = self._wait_connection()
        with self._send_lock:
            conn.sendall(frame.wire)

    def marker(self) -> int:
        """Stream a HEARTBEAT (not part of the capture): once handled, everything before it was handled."""
        self.markers_sent += 1
        body = (b"Event-Name: HEARTBEAT\nCore-UUID: replay\nEvent-Date-Timestamp: 0\n"
                b"Event-Info: System%20Ready\nEvent-Sequence: " + str(900000 + self.markers_sent).encode() + b"\n\n")
        self.send_extra(frame_body(body))
        return self.markers_sent

    # -- waits (blocking: call them off the gevent hub) ------------------------------------------------
    def _wait_connection(self, timeout: float = 15.0) -> socket.socket:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._conn is None or not self.subscriptions:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    raise AssertionError("no subscribed Event Socket client")
                self._cond.wait(remaining)
            return self._conn

    def wait_subscribed(self, timeout: float = 15.0) -> None:
        self._wait_connection(timeout)

    def wait_command(self, pattern: str, timeout: float = 5.0, count: int = 1) -> list[Command]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.commands if regex.search(c.line)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no command matching {pattern!r} within {timeout:g} s; "
                                         f"got {[c.line for c in self.commands]}")
                self._cond.wait(remaining)

    def matching(self, pattern: str) -> list[Command]:
        regex = re.compile(pattern)
        with self._cond:
            return [c for c in self.commands if regex.search(c.line)]

    # -- the Event Socket ----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                old, self._conn = self._conn, None
                self.subscriptions = set()
            if old is not None:
                old.close()
            threading.Thread(target=self._serve, args=(conn,), name="replay-conn", daemon=True).start()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        with self._send_lock:
            conn.sendall(data)

    def _reply(self, conn: socket.socket, text: str) -> None:
        self._send(conn, f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            self._send(conn, b"Content-Type: auth/request\n\n")
            authed = False
            while True:
                while b"\n\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                raw, buf = buf.split(b"\n\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                if not authed:
                    if line == f"auth {self.password}":
                        authed = True
                        self._reply(conn, "+OK accepted")
                    else:
                        self._reply(conn, "-ERR invalid")
                        self._send(conn, b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n")
                        return
                    continue
                self._command(conn, line)
                if line == "exit":
                    return
        except OSError:
            return
        finally:
            conn.close()
            with self._cond:
                if self._conn is conn:
                    self._conn = None
                self._cond.notify_all()

    def _command(self, conn: socket.socket, line: str) -> None:
        if line.startswith("event "):
            parts = line.split()
            if len(parts) < 3 or parts[1] != "plain":
                self._reply(conn, "-ERR only plain events are replayed")
                return
            self._reply(conn, "+OK event listener enabled plain")
            with self._cond:
                self.subscriptions.update(parts[2:])
                self._conn = conn
                self.connections += 1
                self._cond.notify_all()
            return
        if line.startswith("filter "):
            self._reply(conn, "+OK filter added. [ignored by the replay]")
            return
        if line == "exit":
            self._reply(conn, "+OK bye")
            self._send(conn, b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
                             b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
            return
        if not line.startswith("api "):
            self._reply(conn, "-ERR command not found")
            return
        command = line[4:]
        with self._cond:
            reply = self._api_reply(command)
            self.commands.append(Command(command, self.streamed, reply))
            self._cond.notify_all()
        body = reply.encode()
        self._send(conn, b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body)

    def _api_reply(self, command: str) -> str:
        """FreeSWITCH 1.10's exact reply texts (mod_commands.c) for the commands the controller sends."""
        parts = command.split()
        verb = parts[0] if parts else ""
        uuid = parts[1] if len(parts) > 1 else ""
        live = uuid in self.live_legs()
        if command.startswith("show channels as json"):
            rows = []
            for leg in self.live_legs():
                headers = self.channel(leg) or {}
                rows.append({"uuid": leg, "direction": headers.get("Call-Direction", ""),
                             "name": headers.get("Channel-Name", ""),
                             "call_uuid": headers.get("Channel-Call-UUID", ""),
                             "callstate": headers.get("Channel-Call-State", "")})
            if not rows:
                return '{"row_count": 0}\n'
            return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"
        if verb == "uuid_dump":
            headers = self.channel(uuid)
            if headers is None:
                return "-ERR No such channel!\n"
            return json.dumps(headers, separators=(",", ":"))
        if verb == "uuid_exists":
            return "true" if live else "false"
        if verb == "uuid_record":
            return "+OK Success\n" if live else "-ERR Cannot locate session!\n"
        if verb == "uuid_broadcast":
            return "+OK Message sent\n" if live else "-ERR invalid uuid\n"
        if verb == "uuid_displace":
            return "+OK Success\n" if live else "-ERR Cannot locate session!\n"
        if verb == "uuid_getvar":
            headers = self.channel(uuid) if live else None
            if headers is None:
                return "-ERR No such channel!\n"
            name = command.split()[2] if len(command.split()) > 2 else ""
            return headers.get(f"variable_{name}", "_undef_")
        if verb == "uuid_setvar":
            return "+OK\n" if live else "-ERR No such channel!\n"
        return f"-ERR {verb} Command not found!\n"
