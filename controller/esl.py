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
  every socket read, the dispatcher yields at least every `slice_seconds` (2 ms) of handler work, and events go
  to a memory-budgeted `EventQueue`.

Overload policy (`EventQueue`). The reader NEVER stops reading: api replies travel in the same TCP stream as
the events, so pausing reads (TCP back-pressure) would also hold back the reply of every `uuid_record` in
flight and lose the recording decisions already made. Memory is bounded by budget instead:
* up to `max_events` events and `soft_bytes` (default 32 MB) of raw event bytes are queued as received;
* past either, the queue is *overloaded* (logged once per episode, `callrec_event_queue_overloads_total`):
  every new event is stored compact (zlib with a recent event as preset dictionary: ~1 KB instead of ~10 KB,
  lossless, decompressed when dispatched), and the events that cannot change a recording decision are shed
  (counted in `callrec_events_shed_total{event}`): HEARTBEAT (its handler only prunes the tracker; every event
  carries the Core-UUID), `conference::maintenance` other than `add-member`, and events no handler is
  registered for. Nothing else is ever shed: CHANNEL_CREATE/ANSWER/BRIDGE/UNBRIDGE/HANGUP_COMPLETE, DTMF,
  RECORD_START/STOP and conference add-member are always queued;
* past `hard_bytes` (default 128 MB of queued, mostly compact, events) an ERROR is logged once per episode;
  the decision-relevant events are still queued (memory then grows with the backlog: about 1 KB per event);
* the episode ends when the queue is back under half of both budgets (logged with what was shed).
A command whose reply is late (`command_timeout`) is not abandoned while the connection lives: replies come in
order, so `wait(..., patient=True)` logs a warning and keeps waiting; only a lost connection fails it.
If FreeSWITCH gives up on us ("killed listener because of lost events"), we reconnect and resync the live calls.
"""
from __future__ import annotations

import collections
import logging
import re
import time
import zlib
from collections.abc import Mapping
from typing import Callable
from urllib.parse import unquote

import gevent
import gevent.event
import gevent.lock
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


class UnsafeCommand(EslError):
    """A command holding CR or LF: on the Event Socket a blank line ends a command and starts the next one, so a
    caller-controlled value with a newline in it would run commands of the caller's choice. Never sent."""


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


_MISSING = object()
_BLANK_LINE = re.compile("\n\n").search

# The variables the handlers read on (nearly) every channel event (facts.leg_facts / record_facts), most of them
# usually absent: looked up together in one pass over the variable lines (`EventHeaders._prefetch_variables`).
_PREFETCH_NAMES = frozenset("variable_" + name for name in (
    "callrec_account", "callrec_redirected_by", "user_name", "dialed_user", "call_uuid", "sip_refer_to",
    "transfer_source", "transfer_to", "att_xfer_result", "endpoint_disposition", "current_application",
    "current_application_data", "originator", "sip_h_Diversion", "sofia_record_file", "record_ms"))
_PREFETCH_RE = re.compile("\n(" + "|".join(re.escape(name) for name in sorted(_PREFETCH_NAMES, key=len, reverse=True))
                          + "): ([^\n]*)").findall  # [(name, raw value)] in order
_PREFETCH_ABSENT = dict.fromkeys(_PREFETCH_NAMES)


class EventHeaders(Mapping):
    """Headers of one plain event, looked up on demand: no header is split or URL-decoded until it is read.

    A lookup finds the first line `\n<name>: ` in the header block: lines are delimited by raw newlines only, and
    FreeSWITCH URL-encodes every value, so an encoded newline (`%0A`) in a Caller-ID name stays inside that
    value and can never start a header line (the split-first rule of `parse_event`). The first occurrence of a
    header wins (as in `parse_event`). The value is URL-decoded on first read (only if it has a '%') and cached.
    The handlers read ~20 of ~230 headers: finding them costs less than splitting all of them (~230 string
    objects per event); `variable_*` names are searched from the first variable line only.
    """

    __slots__ = ("_text", "_cache", "_var", "_all")

    def __init__(self, raw: bytes):
        text = raw.decode("utf-8", "replace")
        # = text.find("\n\n"): sre finds it ~2.5x faster than str.find, whose 2-char search crawls through the
        # ~230 newlines of a header block (8.5 -> 3.3 us on a 10 KB event; the body ends with this "\n\n")
        match = _BLANK_LINE(text)
        end = match.start() if match is not None else -1
        # framed by newlines so that every header line, the first and the last included, reads "\n<name>: ...\n"
        self._text = "\n" + (text[:end + 1] if end >= 0 else text + "\n")
        self._var = self._text.find("\nvariable_")
        self._cache: dict[str, str | None] = {}
        self._all: dict[str, str] | None = None

    def get(self, name, default=None):
        value = self._cache.get(name, _MISSING)
        if value is _MISSING:
            text = self._text
            if name.startswith("variable_"):
                if self._var < 0:
                    self._cache[name] = None
                    return default
                if name in _PREFETCH_NAMES:
                    self._prefetch_variables()
                    value = self._cache[name]
                    return default if value is None else value
                at = text.find("\n" + name + ": ", self._var)
            else:
                at = text.find("\n" + name + ": ")
            if at < 0:
                value = None
            else:
                at += len(name) + 3
                value = text[at:text.index("\n", at)]
                if "%" in value:
                    value = unquote(value)
                if value.endswith("\r"):
                    value = value.rstrip("\r")
            self._cache[name] = value
        return default if value is None else value

    def _prefetch_variables(self) -> None:
        """Find every `_PREFETCH_NAMES` variable in one pass over the variable lines (their first occurrences;
        the absent ones cached as absent): the handlers ask for ~12 of them per event and most are absent, and
        each absent one cost a scan of the whole variable block (~2.5 us for ~6.5 KB); one regex pass is ~6 us.
        Same values as one `get` each: the line's value after "<name>: ", URL-decoded if it has a '%'.
        Called on the first lookup of any of them, so none of them is cached yet."""
        pairs = _PREFETCH_RE(self._text, self._var)
        cache = self._cache
        cache.update(_PREFETCH_ABSENT)
        for name, value in reversed(pairs):  # reversed: the first occurrence is written last, so it wins
            if "%" in value:
                value = unquote(value)
            if value.endswith("\r"):
                value = value.rstrip("\r")
            cache[name] = value

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name) -> bool:
        return self.get(name) is not None

    def has_header_prefix(self, prefix: str) -> bool:
        if prefix == "variable_":
            return self._var >= 0
        return ("\n" + prefix) in self._text

    def _names(self) -> dict[str, str]:
        """Every header (first occurrence wins), for iteration and logging only: the full split."""
        if self._all is None:
            pairs = [line.split(": ", 1) for line in self._text[1:-1].split("\n")]
            pairs.reverse()  # dict() keeps the last duplicate: reversed, the first occurrence wins
            self._all = dict(pair for pair in pairs if len(pair) == 2)
        return self._all

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr({name: self.get(name) for name in self._names()})


class EslEvent:
    """One event: the raw body, parsed on first use (handlers for unsubscribed names never pay for it).

    Under overload the queue stores it compact (`compact`): zlib with a recent event as preset dictionary, about
    a tenth of the raw size; it is decompressed when dispatched.
    """

    __slots__ = ("raw", "_headers", "received_at", "size", "_zdict")

    def __init__(self, raw: bytes, received_at: float = 0.0):
        self.raw = raw
        self._headers: EventHeaders | None = None
        self.received_at = received_at
        self.size = len(raw)
        self._zdict: bytes | None = None

    def compact(self, zdict: bytes) -> int:
        packer = zlib.compressobj(1, zdict=zdict)
        self.raw = packer.compress(self.raw) + packer.flush()
        self._zdict = zdict
        self.size = len(self.raw) + 120  # + the object itself
        return self.size

    @property
    def headers(self) -> EventHeaders:
        if self._headers is None:
            if self._zdict is not None:
                self.raw = zlib.decompressobj(zdict=self._zdict).decompress(self.raw)
                self._zdict = None
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


def raw_header(raw: bytes, name: bytes) -> str | None:
    """One header of a raw (uncompressed) event body, without parsing the rest (the queue's shedding test)."""
    if raw.startswith(name + b": "):
        at = len(name) + 2
    else:
        at = raw.find(b"\n" + name + b": ")
        if at < 0:
            return None
        at += len(name) + 3
    end = raw.find(b"\n", at)
    value = raw[at:end if end >= 0 else len(raw)].decode("utf-8", "replace").rstrip("\r")
    return unquote(value) if "%" in value else value


class EventQueue:
    """FIFO of received events between the reader and the dispatcher, bounded by a memory budget.

    See the module docstring (overload policy). `shed(raw) -> name | None` names an event that cannot change a
    decision (only asked while overloaded); `listener` gets `queue_overloaded(queue)`, `queue_over_hard_budget(queue)`,
    `queue_recovered(queue)` and `event_shed(name)` calls.
    """

    def __init__(self, max_events: int = 20000, soft_bytes: int = 32 << 20, hard_bytes: int = 128 << 20,
                 shed: Callable[[bytes], str | None] | None = None, listener=None):
        self.max_events, self.soft_bytes, self.hard_bytes = max_events, soft_bytes, hard_bytes
        self.shed = shed
        self.listener = listener
        self._items: collections.deque[EslEvent | None] = collections.deque()
        self._ready = gevent.event.Event()
        self.bytes = 0
        self.overloaded = False
        self.over_hard = False
        self._zdict = b""
        # per episode (reset when it starts), for the log
        self.shed_count = 0
        self.compacted = 0
        self.peak_events = 0
        self.peak_bytes = 0

    def qsize(self) -> int:
        return len(self._items)

    __len__ = qsize

    def put(self, event: EslEvent | None) -> None:
        items = self._items
        if event is not None:
            if not self.overloaded and (len(items) >= self.max_events or self.bytes + event.size > self.soft_bytes):
                self._enter_overload(event)
            if self.overloaded:
                if self.shed is not None:
                    name = self.shed(event.raw)
                    if name is not None:
                        self.shed_count += 1
                        if self.listener is not None:
                            self.listener.event_shed(name)
                        return
                event.compact(self._zdict)
                self.compacted += 1
            self.bytes += event.size
            if self.bytes > self.peak_bytes:
                self.peak_bytes = self.bytes
            if self.overloaded and not self.over_hard and self.bytes > self.hard_bytes:
                self.over_hard = True
                if self.listener is not None:
                    self.listener.queue_over_hard_budget(self)
        items.append(event)
        if len(items) > self.peak_events:
            self.peak_events = len(items)
        self._ready.set()

    def _enter_overload(self, event: EslEvent) -> None:
        self.overloaded = True
        self.shed_count = self.compacted = 0
        self.peak_events, self.peak_bytes = len(self._items), self.bytes
        # a recent event as the preset dictionary: the events of one switch share most of their text
        tail = self._items[-1] if self._items else None
        recent = tail.raw if tail is not None and tail._zdict is None else event.raw
        self._zdict = bytes(recent[-32768:])
        if self.listener is not None:
            self.listener.queue_overloaded(self)

    def get(self) -> EslEvent | None:
        """The next event (None = stop), waiting (yielding to the hub) while there is none."""
        items = self._items
        while not items:
            self._ready.clear()
            self._ready.wait()
        event = items.popleft()
        if event is not None:
            self.bytes -= event.size
            if self.overloaded and len(items) <= self.max_events // 2 and self.bytes <= self.soft_bytes // 2:
                self.overloaded = self.over_hard = False
                if self.listener is not None:
                    self.listener.queue_recovered(self)
        return event


class _Pending:
    __slots__ = ("command", "result", "abandoned", "late", "sent_at")

    def __init__(self, command: str):
        self.command = command
        self.result = gevent.event.AsyncResult()
        self.abandoned = False  # its sender gave up waiting (a non-patient command timed out)
        self.late = False       # its sender is still waiting past the timeout (a patient command)
        self.sent_at = time.monotonic()


class EslConnection:
    """One authenticated Event Socket session: framing, replies matched in order, events to a queue."""

    def __init__(self, host: str, port: int, password: str, *, connect_timeout: float = 5.0,
                 auth_timeout: float = 5.0, command_timeout: float = 5.0, idle_timeout: float = 0.0,
                 queue: EventQueue | None = None):
        self.host, self.port, self.password = host, port, password
        self.connect_timeout, self.auth_timeout = connect_timeout, auth_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout  # no byte at all for this long (HEARTBEAT is every 20 s) = dead peer
        self.events = queue if queue is not None else EventQueue()
        self._send_lock = gevent.lock.Semaphore()  # one command's bytes and its _pending entry at a time
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
        buf = self._buf
        put = self.events.put
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
                buf += data
                received = time.monotonic()
                notice = None
                pos = 0
                size = len(buf)
                # Cut every complete frame at an offset and trim the buffer once (not once per frame).
                while True:
                    while pos < size and buf[pos] == 10:  # stray blank lines between frames
                        pos += 1
                    end = buf.find(b"\n\n", pos)
                    if end < 0:
                        break
                    outer = {}
                    for line in buf[pos:end].decode("utf-8", "replace").split("\n"):
                        name, _, value = line.partition(": ")
                        outer[name] = value.rstrip("\r")
                    try:
                        length = int(outer.get("Content-Length", "0") or 0)
                    except ValueError:
                        length = 0  # malformed: treat the frame as body-less rather than desynchronise forever
                    start = end + 2
                    if size < start + length:
                        break
                    body = bytes(buf[start:start + length])
                    pos = start + length
                    ctype = outer.get("Content-Type", "")
                    if ctype == "text/event-plain":
                        put(EslEvent(body, received))
                    elif ctype in ("command/reply", "api/response"):
                        self._resolve(outer, body)
                    elif ctype == "text/disconnect-notice":
                        notice = body.decode("utf-8", "replace").strip()
                    elif ctype == "text/rude-rejection":
                        notice = "rude rejection: " + body.decode("utf-8", "replace").strip()
                    # log/data and anything else: not ours to handle
                if pos:
                    del buf[:pos]
                if notice is not None:
                    reason = f"FreeSWITCH disconnected us: {notice}"
                    # keep reading: FreeSWITCH closes right after the notice; EOF ends the loop
                # Yield after every read so handlers run during a burst (greenswitch's reader never yields).
                # Never stop reading (see the overload policy): the replies to our commands are in this stream.
                gevent.sleep(0)
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            self._teardown(reason)

    def _resolve(self, outer: dict[str, str], body: bytes) -> None:
        if not self._pending:
            logger.warning("reply without a pending command: %r", outer)
            return
        pending = self._pending.popleft()
        if outer.get("Content-Type") == "api/response":
            text = body.decode("utf-8", "replace")
        else:
            text = outer.get("Reply-Text", "")
        if pending.abandoned or pending.late:
            logger.warning("late reply to %r after %.1f s: %s", pending.command, time.monotonic() - pending.sent_at,
                           text.strip())
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
    def send_nowait(self, command: str) -> _Pending:
        """Write one command now (its reply is matched in order); `wait()` for the reply later."""
        if "\n" in command or "\r" in command:
            logger.error("refused to send a command holding CR/LF (an injection attempt?): %r", command[:300])
            raise UnsafeCommand(f"command holds CR/LF: {command[:80]!r}")
        if not self.connected:
            raise EslNotConnected(f"not connected ({self.close_reason or 'never connected'})")
        pending = _Pending(command)
        with self._send_lock:  # the bytes of two commands must never interleave, nor their _pending entries
            self._pending.append(pending)
            try:
                self._sock.sendall(command.encode() + b"\n\n")
            except OSError as exc:
                # the reader notices too; make sure this command does not wait
                self._teardown(f"connection error while sending: {exc}")
                raise EslNotConnected(str(exc)) from exc
        return pending

    def wait(self, pending: _Pending, timeout: float | None = None, patient: bool = False) -> str:
        """The reply text of a sent command. After `timeout` (default command_timeout): EslTimeout, or, when
        `patient`, a warning and more waiting: FreeSWITCH answers in order, so while the connection lives the
        reply will come (the decision it carries is not given up); a lost connection fails it (EslNotConnected)."""
        limit = self.command_timeout if timeout is None else timeout
        try:
            return pending.result.get(timeout=limit)
        except gevent.Timeout:
            if not patient:
                # The entry stays queued so a late reply is not given to the next command.
                pending.abandoned = True
                raise EslTimeout(f"no reply to {pending.command!r} within {limit:g} s") from None
        pending.late = True
        logger.warning("no reply to %r within %g s; still waiting for it (the connection is alive and "
                       "FreeSWITCH answers in order)", pending.command, limit)
        return pending.result.get()

    def send(self, command: str, timeout: float | None = None, patient: bool = False) -> str:
        """Send one command and return its reply text (see `wait`)."""
        return self.wait(self.send_nowait(command), timeout, patient)

    def api(self, command: str, timeout: float | None = None, patient: bool = False) -> str:
        return self.send("api " + command, timeout, patient)

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

    slice_seconds = 0.002  # the dispatcher yields to the hub (reader, command greenlets) at least this often

    def __init__(self, host: str, port: int, password: str, *, events: list[str], queue_size: int = 20000,
                 queue_bytes: int = 32 << 20, queue_max_bytes: int = 128 << 20,
                 connect_timeout: float = 5.0, auth_timeout: float = 5.0, command_timeout: float = 5.0,
                 idle_timeout: float = 65.0, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 metrics=None):
        self.host, self.port, self.password = host, port, password
        self.subscriptions = events
        self.queue_size = queue_size
        self.queue_bytes, self.queue_max_bytes = queue_bytes, queue_max_bytes
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
        self.reconnects = 0
        self._heartbeat_queued = False  # a HEARTBEAT was queued under overload and not dispatched yet
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

    def api_nowait(self, command: str):
        """Write `api <command>` now; returns a handle for `wait_reply` (the reply is awaited elsewhere)."""
        conn = self.conn
        if conn is None or not conn.connected:
            raise EslNotConnected("not connected to FreeSWITCH")
        return conn, conn.send_nowait("api " + command)

    @staticmethod
    def wait_reply(handle, timeout: float | None = None, patient: bool = True) -> str:
        conn, pending = handle
        return conn.wait(pending, timeout, patient)

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
            queue = EventQueue(self.queue_size, self.queue_bytes, self.queue_max_bytes, shed=self._sheddable,
                               listener=self)
            conn = EslConnection(self.host, self.port, self.password, queue=queue, **self.timeouts)
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

    # -- overload (EventQueue listener; see the module docstring) -------------------------------------
    def _sheddable(self, raw: bytes) -> str | None:
        """The name of an event that cannot change a recording decision (shed under overload), else None."""
        name = raw_header(raw, b"Event-Name") or ""
        if name == "HEARTBEAT":
            # one is kept queued (a HEARTBEAT marks "everything before me was handled"); the others are shed
            if self._heartbeat_queued:
                return name
            self._heartbeat_queued = True
            return None
        if name == "CUSTOM":
            name = raw_header(raw, b"Event-Subclass") or "CUSTOM"
            if name == "conference::maintenance" and raw_header(raw, b"Action") != "add-member":
                return name
        if name not in self._handlers and "*" not in self._handlers:
            return name or "unnamed"
        return None

    def queue_overloaded(self, queue: EventQueue) -> None:
        logger.warning("event queue over its budget (%d events, %.1f MB; budget %d events / %.0f MB): overload. "
                       "Still reading (command replies share the stream); new events are stored compact and "
                       "HEARTBEAT/unhandled events are shed until the handlers catch up", len(queue),
                       queue.bytes / 1e6, queue.max_events, queue.soft_bytes / 1e6)
        if self.metrics:
            self.metrics.queue_overloads.inc()

    def queue_over_hard_budget(self, queue: EventQueue) -> None:
        logger.error("event queue over its hard budget (%d events, %.1f MB > %.0f MB): FreeSWITCH sends more than "
                     "the controller handles; decision events are still queued (nothing is dropped), memory grows "
                     "with the backlog", len(queue), queue.bytes / 1e6, queue.hard_bytes / 1e6)

    def queue_recovered(self, queue: EventQueue) -> None:
        logger.warning("event queue back under half its budget: overload over (peak %d events / %.1f MB; %d events "
                       "stored compact, %d shed: HEARTBEAT/unhandled only)", queue.peak_events,
                       queue.peak_bytes / 1e6, queue.compacted, queue.shed_count)

    def event_shed(self, name: str) -> None:
        if self.metrics:
            self.metrics.events_shed.labels(name).inc()

    def _dispatch_loop(self, conn: EslConnection) -> None:
        queue = conn.events
        handlers = self._handlers
        metrics = self.metrics
        monotonic = time.monotonic
        slice_end = monotonic() + self.slice_seconds
        while True:
            if not queue.qsize():
                slice_end = 0.0  # get() waits, i.e. yields: a new slice starts after it
            event = queue.get()
            if event is None:
                return
            if not slice_end:
                slice_end = monotonic() + self.slice_seconds
            headers = event.headers
            name = headers.get("Event-Name", "")
            self.last_event_at = time.time()
            if not self.core_uuid or name == "HEARTBEAT":
                self.core_uuid = headers.get("Core-UUID", self.core_uuid)
                self._heartbeat_queued = False
            if name == "CUSTOM":
                name = headers.get("Event-Subclass", "CUSTOM")
            if metrics:
                metrics.count_event(name, queue.qsize(), queue.bytes)
            for handler in handlers.get(name) or handlers.get("*", ()):
                try:
                    handler(event)
                except Exception:  # noqa: BLE001 - one failing handler never stops the loop
                    logger.exception("handler %s failed for %s on call %s; headers: %r",
                                     getattr(handler, "__qualname__", handler), name,
                                     headers.get("Unique-ID", "-"), headers)
                    if metrics:
                        metrics.handler_errors.labels(name).inc()
            # Time-sliced: the reader (replies!) and the command greenlets run at least every slice, also while a
            # backlog is being worked through; and at once when a handler asked for it.
            if self._yield or monotonic() >= slice_end:
                self._yield = False
                gevent.sleep(0)
                slice_end = monotonic() + self.slice_seconds
