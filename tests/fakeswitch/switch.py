"""FakeSwitch: the emulated FreeSWITCH (registry of legs, event bus, command log, time, faults).

One ``RLock`` (``switch.lock``) guards the whole model; every event is rendered and offered
to the connections while it is held, so event order is global and an ``api`` command's reply
can be queued before the events it causes.  Waits are ``Condition.wait_for`` with timeouts.

An event is only rendered (serialised, URL-encoded) when a connection may want it or the
history keeps it (``keep_events``); otherwise only its model changes and Event-Sequence happen.
Histories (``events``, ``commands``) are bounded lists with monotonic counters
(``event_count``, ``command_count``) so ``since=`` stays right after old entries are dropped.
"""
import contextlib
import logging
import os
import re
import sys
import threading
import time

from . import actions, commands, dialplan
from .encoding import DISCONNECT_GOODBYE, SHUTDOWN_NOTICE, api_response, command_reply, header_line
from .events import Renderer
from .faults import Faults
from .model import Clock, new_uuid
from .server import Connection, Listener

log = logging.getLogger(__name__)


class CommandRecord:
    """A command a client sent: ``kind`` (api|bgapi|command), ``line`` (without the api/bgapi
    word), ``at`` (time.time() of arrival), ``conn`` id, ``reply`` (output once run) and
    ``trigger``: (event name, Event-Sequence, time sent) of the last event about the uuid
    named in the command that this connection had been sent, or None."""

    __slots__ = ("kind", "line", "at", "conn", "reply", "trigger", "index")  # index: monotonic

    def __init__(self, kind, line, at, conn, trigger, index):
        self.kind, self.line, self.at, self.conn = kind, line, at, conn
        self.trigger, self.index, self.reply = trigger, index, None

    @property
    def latency(self):
        """Seconds from the triggering event's write to this command's arrival."""
        return None if self.trigger is None else self.at - self.trigger[2]

    def __repr__(self):
        return "<%s %r>" % (self.kind, self.line)


def _gevent_hub():
    """The gevent hub of this thread when gevent is in use un-patched, else None."""
    if "gevent" not in sys.modules:
        return None
    try:
        from gevent._hub_local import get_hub_if_exists
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - other gevent layouts
        return None
    if is_module_patched("threading"):
        return None  # patched Conditions already wait cooperatively
    return get_hub_if_exists()


CALLS_PRUNE_MIN = 64     # fs.calls keeps at most max(this, 1/8 of it) ended calls
MID_FRAME = b"Content-Length: 812\nContent-Type: text/event-plain\n\nEvent-Name: CHANNEL_STATE\nCore-UUID: "
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FakeSwitch:
    """An emulated FreeSWITCH 1.10 Event Socket with a scriptable call model.

    See the package docstring / docs/emulator.md for the API.
    """

    def __init__(self, password="ClueCon", host="127.0.0.1", port=0, recordings_dir=None,
                 sounds_dir=None, hostname="fakeswitch", ipv4="127.0.0.1", domain="127.0.0.1",
                 slow_consumer=(100000, 500), auth_timeout=25.0, silent_accept=False):
        self.password = password
        self.host = host
        self._want_port = port
        self.port = None
        self.recordings_dir = recordings_dir
        self.sounds_dir = sounds_dir
        self.base_dir = "/usr/local/freeswitch"   # SWITCH_GLOBAL_dirs.base_dir: uuid_displace's prefix
        self.hostname = hostname
        self.ipv4 = ipv4
        self.domain = domain
        self.slow_consumer = slow_consumer
        self.auth_timeout = auth_timeout
        self.silent = silent_accept      # new connections are accepted but never greeted
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clock = Clock()
        self.renderer = Renderer(self)
        self.faults = Faults(self)
        self.core_uuid = new_uuid()
        self.identity_block = ""
        self._set_identity()
        self.seq = 0
        self.legs = {}
        self.calls = []              # Calls; ended ones are forgotten once there are many
        self._calls_ended = 0        # ended calls still in self.calls (about)
        self.conferences = {}        # name -> {"uuid", "members", "next_id"} (dialplan.conference)
        self.connections = []
        self.commands = []           # CommandRecords (the latest keep_commands; None = all)
        self.keep_commands = None
        self.command_count = 0       # commands ever received (CommandRecord.index is monotonic)
        self._commands_base = 0      # index of self.commands[0]
        self.events = []             # emitted Events: at least the latest keep_events (0: none)
        self.keep_events = 20000
        self.event_count = 0         # events ever emitted (rendered or not)
        self._events_base = 0        # event number of self.events[0]
        self.rendered = 0            # events actually rendered (someone wanted them or history)
        self.started_at = time.time()
        self._listener = None
        self._next_conn = 0
        self.subscriptions = 0
        self.flush_on_advance = True     # rewrite WAVs after each advance (load turns it off)

    def _wait(self, pred, timeout):
        """``cond.wait_for(pred, timeout)``.  In a thread running a gevent hub (the controller's
        greenswitch client in the same pytest process) the blocking wait runs in gevent's
        threadpool so the hub, and the client, keep running meanwhile."""
        def block():
            with self.cond:
                return self.cond.wait_for(pred, timeout)
        hub = _gevent_hub()
        if hub is not None:
            return hub.threadpool.apply(block)
        return block()

    def _set_identity(self):
        self.identity_block = "".join((
            header_line("FreeSWITCH-Hostname", self.hostname),
            header_line("FreeSWITCH-Switchname", self.hostname),
            header_line("FreeSWITCH-IPv4", self.ipv4),
            header_line("FreeSWITCH-IPv6", "::1"),
        ))

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        self._listener = Listener(self, self.host, self.port or self._want_port)
        self.port = self._listener.port
        log.info("fakeswitch listening on %s:%d (core %s)", self.host, self.port, self.core_uuid)
        return self

    def stop(self):
        if self._listener:
            self._listener.close()
            self._listener = None
        for c in list(self.connections):
            c.close(abrupt=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- connections ----------------------------------------------------------------------------
    def _accept(self, sock, addr):
        with self.lock:
            self._next_conn += 1
            conn = Connection(self, sock, addr, self._next_conn)
            self.connections.append(conn)
            self.cond.notify_all()
        conn.start()

    def _connection_closed(self, conn):
        with self.lock:
            if conn in self.connections:
                self.connections.remove(conn)
            self.cond.notify_all()

    def _subscribed(self, conn):
        with self.lock:
            self.subscriptions += 1
            self.cond.notify_all()

    def wait_for_subscriber(self, timeout=5.0, events=("CHANNEL_ANSWER",), count=1):
        """Block until ``count`` authenticated connections subscribed to ``events`` (any of them
        via ALL).  Returns the connections; raises TimeoutError."""
        def ready():
            subs = [c for c in self.connections if c.alive and c.format is not None and
                    ("ALL" in c.events or all(e in c.events for e in events))]
            return subs if len(subs) >= count else None
        subs = self._wait(ready, timeout)
        if not subs:
            raise TimeoutError("no ESL subscriber for %s within %.1fs" % (events, timeout))
        return subs

    def wait_for_connections(self, count, timeout=5.0):
        """Block until exactly/at least ``count`` live client connections exist (0 = all gone)."""
        pred = (lambda: not self.connections) if count == 0 else \
            (lambda: len([c for c in self.connections if c.alive]) >= count)
        if not self._wait(pred, timeout):
            raise TimeoutError("connections: %d, wanted %d" % (len(self.connections), count))

    def session_gone(self, leg):
        """A client bound by ``myevents <uuid>`` without ``linger`` is disconnected when that
        channel is destroyed (mod_event_socket.c l.1238-1240, 1495-1500)."""
        for c in list(self.connections):
            if c.myevents_uuid == leg.uuid and not c.linger:
                c.close(DISCONNECT_GOODBYE)

    # -- events -------------------------------------------------------------------------------
    def _call_added(self, call):
        self.calls.append(call)

    def _call_ended(self, call):
        """A call's last leg is gone: ended calls are dropped from ``calls`` in batches, once more
        than max(CALLS_PRUNE_MIN, 1/8 of the list) ended (amortised O(1) per call)."""
        self._calls_ended += 1
        calls = self.calls
        if self._calls_ended > max(CALLS_PRUNE_MIN, len(calls) // 8):
            calls[:] = [c for c in calls if not c.ended]
            self._calls_ended = 0

    def next_seq(self):
        self.seq += 1
        return self.seq

    def _needed(self, name, subclass, uuid):
        """Must an event be rendered: history keeps it, or a connection may want it (its
        subscription says yes; filters are applied later, on the rendered event)."""
        if self.keep_events:
            return True
        for c in self.connections:
            if c.may_want(name, subclass, uuid):
                return True
        return False

    def emit(self, ev):
        """Offer a rendered event to every connection (call with ``self.lock`` held)."""
        self.event_count += 1
        keep = self.keep_events
        if keep:
            events = self.events
            events.append(ev)
            if len(events) > keep + max(64, keep // 8):   # trim in chunks, not once per event
                cut = len(events) - keep
                del events[:cut]
                self._events_base += cut
        else:
            self.events.clear()
            self._events_base = self.event_count
        for c in self.connections:
            c.offer(ev)
        self.cond.notify_all()
        return ev

    def _skip(self):
        """An event nobody wants and no history keeps: counted, never rendered."""
        self.event_count += 1
        self.events.clear()
        self._events_base = self.event_count
        self.cond.notify_all()
        return None

    def fire(self, name, leg, **kw):
        """Render and emit a channel event of ``leg`` (see Renderer.channel_event).  Returns the
        Event, or None when it was not rendered (nobody subscribed, ``keep_events = 0``)."""
        with self.lock:
            seq = self.next_seq()
            if not self._needed(name, kw.get("subclass"), leg.uuid):
                return self._skip()
            self.rendered += 1
            return self.emit(self.renderer.channel_event(name, leg, seq, **kw))

    def fire_plain(self, name, headers=(), body=None, subclass=None, origin=None):
        with self.lock:
            seq = self.next_seq()
            if not self._needed(name, subclass, None):
                return self._skip()
            self.rendered += 1
            return self.emit(self.renderer.plain_event(name, seq, headers, body, subclass, origin))

    def heartbeat(self):
        up = int(time.time() - self.started_at)
        return self.fire_plain("HEARTBEAT", [
            ("Event-Info", "System Ready"),
            ("Up-Time", "0 years, 0 days, 0 hours, %d minutes, %d seconds, 0 milliseconds, 0 microseconds"
             % (up // 60, up % 60)),
            ("FreeSWITCH-Version", "1.10.12-release~64bit"), ("Uptime-msec", up * 1000),
            ("Session-Count", len(self.legs)), ("Max-Sessions", 1000), ("Session-Per-Sec", 30),
            ("Session-Per-Sec-Last", 0), ("Session-Per-Sec-Max", 1), ("Session-Per-Sec-FiveMin", 0),
            ("Session-Since-Startup", len(self.legs)), ("Session-Peak-Max", len(self.legs)),
            ("Session-Peak-FiveMin", 0), ("Idle-CPU", "99.000000")])

    def wait_for_event(self, name, timeout=5.0, uuid=None, since=0, pred=None):
        """Wait until an event named ``name`` (and of ``uuid``) was emitted; returns it.
        ``since`` = ``fs.event_count`` (= ``len(fs.events)`` while nothing was trimmed) before an
        action; only the events kept in ``fs.events`` can be found."""
        def find():
            start = max(0, since - self._events_base) if since >= 0 else 0
            for ev in self.events[start:]:
                if ev.name == name and (uuid is None or ev.uuid == uuid) and (pred is None or pred(ev)):
                    return ev
            return None
        ev = self._wait(find, timeout)
        if ev is None:
            raise TimeoutError("no %s event within %.1fs" % (name, timeout))
        return ev

    # -- commands ----------------------------------------------------------------------------
    def _record_command(self, conn, kind, line):
        with self.lock:
            trigger = None
            m = _UUID_RE.search(line)
            if m:
                trigger = conn.last_sent.get(m.group(0))
            rec = CommandRecord(kind, line, time.time(), conn.id, trigger, self.command_count)
            self.command_count += 1
            cmds = self.commands
            cmds.append(rec)
            keep = self.keep_commands
            if keep is not None and len(cmds) > keep + max(64, keep // 8):
                cut = len(cmds) - keep
                del cmds[:cut]
                self._commands_base += cut
            self.cond.notify_all()
            return rec

    def wait_for_command(self, pattern, timeout=5.0, kind=("api", "bgapi"), since=0):
        """Wait for a received command whose line matches regex ``pattern``; returns the
        CommandRecord.  ``since`` = command number to start from (``fs.command_count``, or
        ``len(fs.commands)`` while nothing was trimmed, before an action ignores earlier ones;
        ``rec.index + 1`` the ones up to ``rec``)."""
        rx = re.compile(pattern)
        kinds = (kind,) if isinstance(kind, str) else kind

        def find():
            for rec in self.commands[max(0, since - self._commands_base):]:
                if rec.kind in kinds and rx.search(rec.line):
                    return rec
            return None
        rec = self._wait(find, timeout)
        if rec is None:
            raise TimeoutError("no command matching %r within %.1fs; got %r" % (pattern, timeout, self.commands))
        return rec

    def commands_matching(self, pattern, kind=("api", "bgapi")):
        rx = re.compile(pattern)
        kinds = (kind,) if isinstance(kind, str) else kind
        with self.lock:
            return [r for r in self.commands if r.kind in kinds and rx.search(r.line)]

    def _run_api(self, conn, line, hdrs):
        rec = self._record_command(conn, "api", line)
        conn.hold()                       # events caused by the command go after the reply
        try:
            self.faults.before_reply(conn, rec)
            if not conn.alive:
                return
            with self.lock:
                out = self.faults.override(rec)
                if out is None:
                    out = commands.execute(self, line, conn)
                rec.reply = out
                conn.send(api_response(out))
        finally:
            conn.release()

    def _run_bgapi(self, conn, line, hdrs):
        rec = self._record_command(conn, "bgapi", line)
        job = hdrs.get("Job-UUID") or new_uuid()
        conn.hold()
        try:
            with self.lock:
                conn.send(command_reply("+OK Job-UUID: %s" % job, [("Job-UUID", job)]))
        finally:
            conn.release()
        self.faults.before_reply(conn, rec)
        with self.lock:
            out = self.faults.override(rec)
            if out is None:
                out = commands.execute(self, line, conn)
            rec.reply = out
            cmd, _, arg = line.partition(" ")
            hs = [("Job-UUID", job), ("Job-Command", cmd)]
            if arg:
                hs.append(("Job-Command-Arg", arg))
            self.fire_plain("BACKGROUND_JOB", hs, body=out)

    # -- time and media ------------------------------------------------------------------------
    def advance(self, seconds):
        """Advance virtual time: feed recordings, finish playbacks, hit recording limits."""
        actions.advance(self, seconds)

    # -- faults (see faults.py) ------------------------------------------------------------------
    def drop_connections(self, notice=None, mid_frame=False):
        """Close every client connection: abruptly (EOF, like a crash), after ``notice``
        (e.g. encoding.SHUTDOWN_NOTICE), or ``mid_frame``: after the queued frames and the first
        half of one more event frame (the crash hit while writing)."""
        with self.lock:
            conns = list(self.connections)
        for c in conns:
            if mid_frame:
                c.send(MID_FRAME)
                c.close()
            else:
                c.close(notice=notice, abrupt=notice is None)

    def restart(self, keep_calls=False, notice=SHUTDOWN_NOTICE, down=False):
        """Emulate a FreeSWITCH restart: clients disconnected, new Core-UUID; calls are gone
        (their recordings closed) unless ``keep_calls``.  ``down=True`` leaves the port closed
        until :meth:`start` is called again."""
        # The listener goes first, as when the FreeSWITCH process stops: a client reconnecting at once must not
        # slip into the old listener between the notice and its closing.
        if self._listener:
            self._listener.close()
            self._listener = None
        self.drop_connections(notice)
        try:
            self.wait_for_connections(0, timeout=2)
        except TimeoutError:   # a client that does not read never lets the notice out
            for c in list(self.connections):
                c.close(abrupt=True)
        with self.lock:
            self.core_uuid = new_uuid()
            self.seq = 0
            self.started_at = time.time()
            if not keep_calls:
                for leg in list(self.legs.values()):
                    for r in leg.recordings.values():
                        r.flush()
                    leg.recordings.clear()
                    leg.alive = False
                self.legs.clear()
                self.calls.clear()
                self.conferences = {}
        if not down:
            self.start()

    def delay_replies(self, seconds, pattern=".", count=1):
        """Delay the reply of the next ``count`` api/bgapi commands matching ``pattern``; no events
        flow on that connection meanwhile (FreeSWITCH runs api in the listener thread)."""
        self.faults.add_delay(pattern, seconds, count)

    def fail_next_command(self, pattern=".", reply=None, count=1):
        """Answer the next ``count`` matching commands with ``reply`` (default: FreeSWITCH's
        error for that command) instead of running them."""
        self.faults.add_failure(pattern, reply, count)

    def drop_on_command(self, pattern, notice=None):
        """Close the connection when a matching api/bgapi arrives, before replying."""
        self.faults.add_drop(pattern, notice)

    def silent_accept(self, on=True):
        """From now on accept connections but never send ``auth/request`` nor answer anything (a
        hung FreeSWITCH whose kernel still completes the TCP handshake).  Connections already open
        are left alone; ``silent_accept(False)`` greets new ones again."""
        with self.lock:
            self.silent = bool(on)

    @contextlib.contextmanager
    def slow_consumer_kill(self, conns=None):
        """FreeSWITCH's slow-consumer kill (mod_event_socket MAX_QUEUE_LEN / MAX_MISSED): inside
        the block every client (or ``conns``) has a full event queue, so the events emitted there
        are lost to it (api replies still flow); on leaving the block it gets the
        ``killed listener because of lost events`` notice, whatever it had queued is dropped, and
        it is closed.  Yields the affected connections."""
        with self.lock:
            targets = [c for c in (conns if conns is not None else self.connections) if c.alive]
            for c in targets:
                c.losing = True
        try:
            yield targets
        finally:
            with self.lock:
                for c in targets:
                    c.kill_lost_events()

    def send_raw(self, data, conn=None):
        """Queue raw bytes (e.g. a malformed frame) to one or all connections."""
        for c in ([conn] if conn else list(self.connections)):
            c.send(data)

    def fragment_frames(self, size=1):
        """Write every frame in ``size``-byte pieces (0 turns it off)."""
        self.faults.fragment = size

    # -- scenarios ---------------------------------------------------------------------------
    def leg(self, uuid):
        return self.legs[uuid]

    def call_user_to_user(self, caller="1000", callee="1001", **kw):
        """-> Call; kw: cid_name, codec, callee_codec, dialed (alias transferred to callee)."""
        return dialplan.user_to_user(self, caller, callee, **kw)

    def call_forwarded_number(self, caller="1000", number="5550100", to="1002", by="1001", **kw):
        """-> Call; the ISP's dialplan forwards ``number`` to ``to`` with a Diversion naming ``by``; kw: diversion
        (the caller's own), reason."""
        return dialplan.forwarded_number(self, caller, number, to, by, **kw)

    def call_user_to_external(self, caller="1000", number="15551234567", **kw):
        return dialplan.user_to_external(self, caller, number, **kw)

    def call_external_to_user(self, number="15551234567", callee="1001", **kw):
        return dialplan.external_to_user(self, number, callee, **kw)

    def call_user_to_conference(self, caller="1000", room="3000", **kw):
        """-> Call with only ``a``: answered by the dialplan, kept by ``conference``, never bridged."""
        return dialplan.conference(self, caller, room, **kw)

    def voicemail_check(self, user="1000", dialed="*98", **kw):
        return dialplan.voicemail_check(self, user, dialed, **kw)

    def load(self, calls, cps, **kw):
        from .load import run_load
        return run_load(self, calls, cps, **kw)

    def announcement_path(self, name="callrec/call-recording-started.wav"):
        return os.path.join(self.sounds_dir or "", name)
