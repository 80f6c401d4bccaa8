"""Our own FreeSWITCH Event Socket client on gevent (inbound mode).

greenswitch 0.0.19 (ESL_RESEARCH §4) shaped the API kept here: `register_handle(name, fn)` with the `'*'`
fallback and CUSTOM events routed by Event-Subclass, handlers isolated from each other, events with a
`.headers` dict. Its connection code is replaced, because each of its gaps is a production incident:

* it URL-decodes a whole event before splitting it into lines, so an encoded newline in a Caller-ID name
  injects headers: here lines are split first and each value is decoded on its own (`parse_event`);
* `send()` waits forever for a reply: here every command has a timeout and every pending command fails
  with `EslNotConnected` the moment the connection is lost;
* a plain EOF (crash, no disconnect notice) is not reported: here EOF, a notice and any socket error all
  end the session the same way, and `EslClient` reconnects with a capped exponential backoff;
* `connect()` has no auth timeout: here the auth/request and the auth reply are both time-limited;
* its handler queue is unbounded and its reader never yields during a burst: here the reader yields after
  every socket read and hands events to a bounded queue. Overload policy: when the queue is full the reader
  stops reading (TCP back-pressure) and logs it once per episode; FreeSWITCH then buffers up to 100000
  events for us. Nothing is dropped; if FreeSWITCH gives up on us ("killed listener because of lost
  events"), we reconnect and resync the live calls.
"""
from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from typing import Callable
from urllib.parse import unquote

import gevent
import gevent.event
import gevent.queue
from gevent import socket

logger = logging.getLogger(__name__)


class EslError(Exception):
    """Base class of the Event Socket errors."""


class EslNotConnected(EslError):
    """The connection is down (or went down while a command waited for its reply)."""


class EslTimeout(EslError):
    """FreeSWITCH did not answer in time."""


class EslAuthError(EslError):
    """FreeSWITCH refused the password."""


def parse_event(body: bytes) -> dict[str, str]:
    """Split a text/event-plain body into headers FIRST, then URL-decode each value on its own.

    Decoding per value after the split means an encoded newline (`%0A`) in a caller-controlled value stays
    inside that value and can never start a new header line. The first occurrence of a header wins (FreeSWITCH
    serialises its own core and channel headers before any variables). An inner Content-Length body (as in
    BACKGROUND_JOB) is kept under the key `_body`.
    """
    text = body.decode("utf-8", "replace")
    head, sep, rest = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, colon, value = line.partition(": ")
        if not colon:
            if line.endswith(":"):  # "Name:" with an empty value
                name, value = line[:-1], ""
            else:
                continue  # a malformed line: skip it, never glue it onto another header
        if name in headers:
            continue
        if "%" in value:
            value = unquote(value)
        headers[name] = value.rstrip("\r")
    if sep and rest:
        headers["_body"] = rest
    return headers


class EventHeaders(Mapping):
    """Headers of one plain event: split into lines first, each value URL-decoded only when it is read.

    Splitting the block at raw newlines before any decoding is what makes header injection impossible:
    FreeSWITCH URL-encodes every value, so an encoded newline (`%0A`) in a Caller-ID name stays inside that
    value. The first occurrence of a header wins (as in `parse_event`). The hot path reads ~30 of ~230 headers,
    so only those pay for decoding.
    """

    __slots__ = ("_raw", "_decoded", "_has_vars")

    def __init__(self, raw: bytes):
        text = raw.decode("utf-8", "replace")
        end = text.find("\n\n")
        if end >= 0:
            text = text[:end]
        pairs = [line.split(": ", 1) for line in text.split("\n")]
        pairs.reverse()  # dict() keeps the last duplicate: reversed, the first occurrence wins
        self._raw: dict[str, str] = dict(pair for pair in pairs if len(pair) == 2)
        self._decoded: dict[str, str] = {}
        self._has_vars = "\nvariable_" in text

    def get(self, name, default=None):
        value = self._decoded.get(name)
        if value is None:
            value = self._raw.get(name)
            if value is None:
                return default
            if "%" in value:
                value = unquote(value)
            value = value.rstrip("\r")
            self._decoded[name] = value
        return value

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name) -> bool:
        return name in self._raw

    def has_header_prefix(self, prefix: str) -> bool:
        if prefix == "variable_":
            return self._has_vars
        return any(name.startswith(prefix) for name in self._raw)

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return repr({name: self.get(name) for name in self._raw})


class EslEvent:
    """One event: the raw body, parsed on first use (handlers for unsubscribed names never pay for it)."""

    __slots__ = ("raw", "_headers", "received_at")

    def __init__(self, raw: bytes, received_at: float = 0.0):
        self.raw = raw
        self._headers: EventHeaders | None = None
        self.received_at = received_at

    @property
    def headers(self) -> EventHeaders:
        if self._headers is None:
            self._headers = EventHeaders(self.raw)
        return self._headers

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    @property
    def uuid(self) -> str:
        return self.headers.get("Unique-ID", "")


class _Pending:
    __slots__ = ("command", "result", "abandoned")

    def __init__(self, command: str):
        self.command = command
        self.result = gevent.event.AsyncResult()
        self.abandoned = False


class EslConnection:
    """One authenticated Event Socket session: framing, replies matched in order, events to a queue."""

    def __init__(self, host: str, port: int, password: str, *, connect_timeout: float = 5.0,
                 auth_timeout: float = 5.0, command_timeout: float = 5.0, idle_timeout: float = 0.0,
                 queue: gevent.queue.Queue | None = None, on_overload: Callable[[int], None] | None = None):
        self.host, self.port, self.password = host, port, password
        self.connect_timeout, self.auth_timeout = connect_timeout, auth_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout  # no byte at all for this long (HEARTBEAT is every 20 s) = dead peer
        self.events = queue if queue is not None else gevent.queue.Queue()
        self._on_overload = on_overload
        self._sock: socket.socket | None = None
        self._pending: collections.deque[_Pending] = collections.deque()
        self._buf = bytearray()
        self._reader: gevent.Greenlet | None = None
        self.closed = gevent.event.Event()
        self.close_reason = ""
        self.connected = False

    # -- handshake ---------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the TCP connection and authenticate, every step time-limited; start the reader."""
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise EslNotConnected(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            outer, _ = self._read_frame_blocking(self.auth_timeout)
            if outer.get("Content-Type") == "text/rude-rejection":
                raise EslNotConnected(f"FreeSWITCH at {self.host}:{self.port} rejected us (ACL)")
            if outer.get("Content-Type") != "auth/request":
                raise EslNotConnected(f"expected auth/request, got {outer.get('Content-Type')!r}")
            self._sock.sendall(f"auth {self.password}\n\n".encode())
            outer, _ = self._read_frame_blocking(self.auth_timeout)
            reply = outer.get("Reply-Text", "")
            if not reply.startswith("+OK"):
                raise EslAuthError(f"FreeSWITCH at {self.host}:{self.port} refused the password ({reply})")
        except BaseException:
            self._close_socket()
            raise
        self._sock.settimeout(None)
        self.connected = True
        self._reader = gevent.spawn(self._read_loop)

    def _read_frame_blocking(self, timeout: float) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EslTimeout(f"FreeSWITCH at {self.host}:{self.port} did not authenticate in {timeout:g} s")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise EslTimeout(f"FreeSWITCH at {self.host}:{self.port} did not authenticate in {timeout:g} s") \
                    from None
            except OSError as exc:
                raise EslNotConnected(f"connection lost during authentication: {exc}") from exc
            if not data:
                raise EslNotConnected("connection closed during authentication")
            self._buf += data

    def _take_frame(self) -> tuple[dict[str, str], bytes] | None:
        """Cut one outer frame off the buffer, or None if it is not complete yet."""
        buf = self._buf
        while buf[:1] == b"\n":  # stray blank lines between frames
            del buf[:1]
        end = buf.find(b"\n\n")
        if end < 0:
            return None
        outer = {}
        for line in bytes(buf[:end]).decode("utf-8", "replace").split("\n"):
            name, _, value = line.partition(": ")
            outer[name] = value.rstrip("\r")
        try:
            length = int(outer.get("Content-Length", "0") or 0)
        except ValueError:
            length = 0  # a malformed length: treat the frame as body-less rather than desynchronise forever
        start = end + 2
        if len(buf) < start + length:
            return None
        body = bytes(buf[start:start + length])
        del buf[:start + length]
        return outer, body

    # -- reading ------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        sock = self._sock
        reason = "connection closed by FreeSWITCH without a disconnect notice"
        try:
            if self.idle_timeout:
                sock.settimeout(self.idle_timeout)
            while True:
                try:
                    data = sock.recv(262144)
                except socket.timeout:
                    reason = f"no data from FreeSWITCH for {self.idle_timeout:g} s (dead connection)"
                    break
                if not data:
                    break
                self._buf += data
                received = time.monotonic()
                notice = None
                while True:
                    frame = self._take_frame()
                    if frame is None:
                        break
                    outer, body = frame
                    ctype = outer.get("Content-Type", "")
                    if ctype == "text/event-plain":
                        self._put_event(EslEvent(body, received))
                    elif ctype in ("command/reply", "api/response"):
                        self._resolve(outer, body)
                    elif ctype == "text/disconnect-notice":
                        notice = body.decode("utf-8", "replace").strip()
                    elif ctype == "text/rude-rejection":
                        notice = "rude rejection: " + body.decode("utf-8", "replace").strip()
                    # log/data and anything else: not ours to handle
                if notice is not None:
                    reason = f"FreeSWITCH disconnected us: {notice}"
                    # keep reading: FreeSWITCH closes right after the notice; EOF ends the loop
                # Yield after every read so handlers run during a burst (greenswitch's reader never yields).
                gevent.sleep(0)
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            self._teardown(reason)

    def _put_event(self, event: EslEvent) -> None:
        queue = self.events
        if queue.maxsize is not None and queue.qsize() >= queue.maxsize:
            if self._on_overload:
                self._on_overload(queue.qsize())
        queue.put(event)  # blocks when full: back-pressure (see the module docstring)

    def _resolve(self, outer: dict[str, str], body: bytes) -> None:
        if not self._pending:
            logger.warning("reply without a pending command: %r", outer)
            return
        pending = self._pending.popleft()
        if outer.get("Content-Type") == "api/response":
            text = body.decode("utf-8", "replace")
        else:
            text = outer.get("Reply-Text", "")
        if pending.abandoned:
            logger.info("late reply to %r after its timeout: %s", pending.command, text.strip())
        pending.result.set(text)

    def _teardown(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.connected = False
        self.close_reason = reason
        self._close_socket()
        while self._pending:
            pending = self._pending.popleft()
            pending.result.set_exception(EslNotConnected(f"{reason} (while waiting for {pending.command!r})"))
        self.closed.set()

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass

    # -- commands -----------------------------------------------------------------------------------
    def send(self, command: str, timeout: float | None = None) -> str:
        """Send one command and return its reply text, waiting at most `timeout` (default command_timeout)."""
        if not self.connected:
            raise EslNotConnected(f"not connected ({self.close_reason or 'never connected'})")
        pending = _Pending(command)
        self._pending.append(pending)
        try:
            self._sock.sendall(command.encode() + b"\n\n")
        except OSError as exc:
            # the reader notices too; make sure this command does not wait
            self._teardown(f"connection error while sending: {exc}")
            raise EslNotConnected(str(exc)) from exc
        try:
            return pending.result.get(timeout=self.command_timeout if timeout is None else timeout)
        except gevent.Timeout:
            # Replies are matched in order: the entry stays queued so a late reply is not given to the next
            # command.
            pending.abandoned = True
            raise EslTimeout(f"no reply to {command!r} within {timeout or self.command_timeout:g} s") from None

    def api(self, command: str, timeout: float | None = None) -> str:
        return self.send("api " + command, timeout)

    def close(self, reason: str = "closed by the controller") -> None:
        if self.connected:
            try:
                self._sock.sendall(b"exit\n\n")
            except OSError:
                pass
        self._teardown(reason)
        if self._reader is not None and self._reader is not gevent.getcurrent():
            self._reader.kill(block=True, timeout=1)


class EslClient:
    """Keeps one Event Socket session alive: connect, subscribe, dispatch events to handlers, reconnect.

    `on_connected(conn)` runs after every (re)connection and subscription, before events are dispatched;
    `on_disconnected(reason)` after every loss. Handlers run one at a time, in arrival order, each under a
    safe wrapper: a failing handler is logged with the call UUID and the headers, and the loop goes on.
    """

    def __init__(self, host: str, port: int, password: str, *, events: list[str], queue_size: int = 20000,
                 connect_timeout: float = 5.0, auth_timeout: float = 5.0, command_timeout: float = 5.0,
                 idle_timeout: float = 65.0, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 metrics=None):
        self.host, self.port, self.password = host, port, password
        self.subscriptions = events
        self.queue_size = queue_size
        self.timeouts = dict(connect_timeout=connect_timeout, auth_timeout=auth_timeout,
                             command_timeout=command_timeout, idle_timeout=idle_timeout)
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.metrics = metrics
        self._handlers: dict[str, list[Callable[[EslEvent], None]]] = {}
        self.on_connected: list[Callable[[EslConnection], None]] = []
        self.on_disconnected: list[Callable[[str], None]] = []
        self.conn: EslConnection | None = None
        self.connected_event = gevent.event.Event()
        self._stopping = False
        self._runner: gevent.Greenlet | None = None
        self._overloaded = False
        self.reconnects = 0
        self._yield = False
        self.last_event_at = 0.0  # time.time() of the last event handled
        self.core_uuid = ""

    # -- greenswitch-shaped registration ---------------------------------------------------------
    def register_handle(self, name: str, handler: Callable[[EslEvent], None]) -> None:
        """Call `handler(event)` for events named `name` (Event-Subclass for CUSTOM, '*' for the rest)."""
        self._handlers.setdefault(name, []).append(handler)

    # -- commands -----------------------------------------------------------------------------------
    def api(self, command: str, timeout: float | None = None) -> str:
        conn = self.conn
        if conn is None or not conn.connected:
            raise EslNotConnected("not connected to FreeSWITCH")
        return conn.api(command, timeout)

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.connected

    def request_yield(self) -> None:
        """Ask the dispatcher to yield once after the current event (a handler spawned urgent work)."""
        self._yield = True

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> gevent.Greenlet:
        self._runner = gevent.spawn(self.run)
        return self._runner

    def stop(self) -> None:
        self._stopping = True
        if self.conn is not None:
            self.conn.close("controller stopping")
        if self._runner is not None and self._runner is not gevent.getcurrent():
            self._runner.kill(block=True, timeout=2)

    def run(self) -> None:
        """Connect, serve until the connection drops, wait (capped exponential backoff), repeat."""
        delay = self.backoff_initial
        first = True
        while not self._stopping:
            if first:
                logger.info("waiting for FreeSWITCH at %s:%s", self.host, self.port)
            queue = gevent.queue.Queue(maxsize=self.queue_size)
            conn = EslConnection(self.host, self.port, self.password, queue=queue,
                                 on_overload=self._overload, **self.timeouts)
            try:
                conn.connect()
                conn.send("event plain " + " ".join(self.subscriptions))
            except EslAuthError as exc:
                logger.error("%s; retrying in %.1f s", exc, delay)
                conn.close()
            except EslError as exc:
                logger.warning("waiting for FreeSWITCH at %s:%s (%s); retrying in %.1f s",
                               self.host, self.port, exc, delay)
                conn.close()
            else:
                if not first:
                    self.reconnects += 1
                    if self.metrics:
                        self.metrics.reconnects.inc()
                first = False
                delay = self.backoff_initial
                self.core_uuid = ""
                self._serve(conn)
                if self._stopping:
                    break
                logger.warning("lost FreeSWITCH at %s:%s: %s; reconnecting", self.host, self.port,
                               conn.close_reason)
                continue
            first = False
            gevent.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    def _serve(self, conn: EslConnection) -> None:
        self.conn = conn
        logger.info("connected to FreeSWITCH at %s:%s", self.host, self.port)
        if self.metrics:
            self.metrics.esl_connected.set(1)
        dispatcher = gevent.spawn(self._dispatch_loop, conn)
        try:
            for callback in self.on_connected:
                try:
                    callback(conn)
                except Exception:  # noqa: BLE001 - a failing hook must not stop the session
                    logger.exception("on_connected hook %r failed", callback)
            self.connected_event.set()
            conn.closed.wait()
        finally:
            self.connected_event.clear()
            if self.metrics:
                self.metrics.esl_connected.set(0)
            # drain what was already received before the loss, then stop the dispatcher
            conn.events.put(None)
            dispatcher.join(timeout=5)
            dispatcher.kill()
            for callback in self.on_disconnected:
                try:
                    callback(conn.close_reason)
                except Exception:  # noqa: BLE001
                    logger.exception("on_disconnected hook %r failed", callback)

    def _overload(self, depth: int) -> None:
        if not self._overloaded:
            self._overloaded = True
            logger.warning("event queue full (%d events): overload, pausing reads from FreeSWITCH "
                           "(back-pressure; FreeSWITCH buffers for us) until the handlers catch up", depth)
        if self.metrics:
            self.metrics.queue_overloads.inc()

    def _dispatch_loop(self, conn: EslConnection) -> None:
        queue = conn.events
        handlers = self._handlers
        metrics = self.metrics
        while True:
            event = queue.get()
            if event is None:
                return
            if self._overloaded and queue.qsize() < self.queue_size // 2:
                self._overloaded = False
                logger.warning("event queue back below %d: overload over", self.queue_size // 2)
            headers = event.headers
            name = headers.get("Event-Name", "")
            self.last_event_at = time.time()
            if not self.core_uuid or name == "HEARTBEAT":
                self.core_uuid = headers.get("Core-UUID", self.core_uuid)
            if name == "CUSTOM":
                name = headers.get("Event-Subclass", "CUSTOM")
            if metrics:
                metrics.count_event(name, queue.qsize())
            for handler in handlers.get(name) or handlers.get("*", ()):
                try:
                    handler(event)
                except Exception:  # noqa: BLE001 - one failing handler never stops the loop
                    logger.exception("handler %s failed for %s on call %s; headers: %r",
                                     getattr(handler, "__qualname__", handler), name,
                                     headers.get("Unique-ID", "-"), headers)
            if self._yield:
                self._yield = False
                gevent.sleep(0)
