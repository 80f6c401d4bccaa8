"""Inbound Event Socket server: TCP listener and one :class:`Connection` per client.

Each connection has a reader thread (parses commands, replies) and a writer thread (drains an
outgoing frame queue), like a mod_event_socket listener with its event queue.  Replies and
events share the queue, so an ``api`` reply is queued before the events it caused (the
connection holds its events while the command runs, as FreeSWITCH's listener thread does).
"""
import itertools
import logging
import re
import socket
import threading
import time
import uuid as _uuid
from collections import deque

from . import encoding as enc
from .events import Event

log = logging.getLogger(__name__)

FORMATS = ("plain", "json", "xml")
KNOWN_EVENTS = {
    "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "API", "LOG", "INBOUND_CHAN",
    "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH", "TALK", "NOTALK", "SESSION_CRASH",
    "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE", "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT",
    "PRESENCE_PROBE", "MESSAGE_WAITING", "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB",
    "DETECTED_SPEECH", "DETECTED_TONE", "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE",
    "DEL_SCHEDULE", "EXE_SCHEDULE", "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE", "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA",
    "GENERAL", "COMMAND", "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED",
    "SEND_INFO", "RECV_INFO", "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT",
    "RECORD_START", "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE",
    "SOCKET_DATA", "MEDIA_BUG_START", "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA",
    "CALL_SETUP_REQ", "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED",
    "ALL",
}
MYEVENTS = ("CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA "
            "CHANNEL_DESTROY CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP "
            "CHANNEL_HANGUP_COMPLETE CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK "
            "CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK "
            "DETECTED_SPEECH DTMF NOTALK TALK").split()
LAST_SENT_MAX = 20000   # uuids a connection remembers for trigger attribution (oldest dropped)
_CLOSE = object()
_SHUT = object()


class Connection:
    """One inbound ESL client."""

    def __init__(self, switch, sock, addr, cid):
        self.switch = switch
        self.sock = sock
        self.addr = addr
        self.id = cid
        self.authed = False
        self.format = None            # plain|json|xml once subscribed
        self.events = set()
        self.subclasses = set()
        self.filters = []             # [(header, value)]
        self.myevents_uuid = None
        self.linger = False
        self.alive = True
        self.connected_at = time.time()
        self.last_sent = {}           # uuid -> (event name, seq, time sent): trigger attribution,
        #                               the latest LAST_SENT_MAX uuids
        self._queue = deque()
        self._qcond = threading.Condition()
        self._held = None             # list while an api command runs
        self._missed = 0
        self.silent = switch.silent        # accepted but never greeted (a hung FreeSWITCH)
        self.losing = False                # events are lost to it (slow-consumer fault)
        self._reader = threading.Thread(target=self._read_loop, name="esl-read-%d" % cid, daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="esl-write-%d" % cid, daemon=True)

    def start(self):
        self._writer.start()
        if not self.silent:
            self.send(enc.AUTH_REQUEST)
        self._reader.start()

    # -- outgoing ------------------------------------------------------------------------------
    def send(self, frame, meta=None):
        with self._qcond:
            if not self.alive:
                return
            self._queue.append((frame, meta))
            self._qcond.notify()

    def offer(self, ev):
        """Queue ``ev`` if this client subscribed to it and its filters let it through."""
        if not self.wants(ev):
            return
        if self._held is not None:
            self._held.append(ev)
            return
        self._enqueue_event(ev)

    def _enqueue_event(self, ev):
        limit, max_missed = self.switch.slow_consumer
        with self._qcond:
            if not self.alive:
                return
            if self.losing or len(self._queue) >= limit:
                self._missed += 1
                if not self.losing and self._missed >= max_missed:
                    self._kill_lost_events()
                return
            self._queue.append((self.render(ev), ev))
            self._qcond.notify()

    def _kill_lost_events(self):
        """mod_event_socket's kill_listener(l, "killed listener because of lost events\\n"): what is
        still queued is never sent; the notice, then the socket is closed (call with _qcond held)."""
        log.warning("conn %d: slow consumer (%d events lost), killing listener", self.id, self._missed)
        self._queue.clear()
        self._queue.append((enc.disconnect_notice(enc.LOST_EVENTS_NOTICE), None))
        self._queue.append((_CLOSE, None))
        self.alive = False
        self._qcond.notify()

    def kill_lost_events(self):
        with self._qcond:
            if self.alive:
                self._kill_lost_events()

    def render(self, ev):
        if self.format == "json":
            return enc.event_frame(enc.serialize_json(ev.headers(), ev.body()), "text/event-json")
        return enc.event_frame(ev.text)

    def hold(self):
        with self.switch.lock:
            self._held = []

    def release(self):
        with self.switch.lock:  # offers happen under this lock: none can slip between
            held, self._held = self._held or [], None
            for ev in held:
                self._enqueue_event(ev)

    def close(self, notice=None, abrupt=False):
        """Close after the queued frames (with an optional disconnect notice) or at once."""
        with self._qcond:
            if abrupt:
                self._queue.clear()
                self._queue.append((_SHUT, None))
            else:
                if notice is not None:
                    self._queue.append((enc.disconnect_notice(notice), None))
                self._queue.append((_CLOSE, None))
            self.alive = False
            self._qcond.notify()
        if abrupt:
            self._shutdown()

    def _shutdown(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.switch._connection_closed(self)

    def _write_loop(self):
        """Drain the queue; frames queued together go out in one write (several frames per
        TCP segment, as FreeSWITCH does under load), unless fragmenting."""
        while True:
            batch, marker = [], None
            with self._qcond:
                while not self._queue:
                    self._qcond.wait()
                while self._queue and len(batch) < 64:
                    frame, meta = self._queue.popleft()
                    if frame is _SHUT or frame is _CLOSE:
                        marker = frame
                        break
                    batch.append((frame, meta))
            now = time.time()
            last_sent = self.last_sent
            for frame, meta in batch:
                if isinstance(meta, Event) and meta.uuid:
                    # before the write: the client may answer before sendall returns
                    last_sent[meta.uuid] = (meta.name, meta.seq, now)
            if len(last_sent) > LAST_SENT_MAX + LAST_SENT_MAX // 8:
                # dicts keep insertion order: forget the uuids first seen longest ago (calls over
                # by now); only this thread writes, the reader's get() is safe meanwhile
                for uid in list(itertools.islice(last_sent, len(last_sent) - LAST_SENT_MAX)):
                    del last_sent[uid]
            if batch:
                try:
                    self.switch.faults.write(self, b"".join(f for f, _ in batch))
                except OSError:
                    self.alive = False
                    self._shutdown()
                    return
            if marker is _SHUT:
                return
            if marker is _CLOSE:
                self._shutdown()
                return

    # -- subscription and filters ---------------------------------------------------------------
    def may_want(self, name, subclass, uuid):
        """``wants`` before rendering: False when the subscription excludes the event whatever
        its headers (filters need the rendered event and are checked in ``wants``)."""
        if not self.authed or self.format is None or not self.alive:
            return False
        if self.myevents_uuid is not None:
            if name == "BACKGROUND_JOB":
                return "BACKGROUND_JOB" in self.events
            if uuid != self.myevents_uuid:
                return False
        events = self.events
        if "ALL" in events:
            return True
        if name not in events:
            return False
        return name != "CUSTOM" or subclass in self.subclasses

    def wants(self, ev):
        if not self.authed or self.format is None:
            return False
        if self.myevents_uuid is not None:
            if ev.name == "BACKGROUND_JOB":
                return "BACKGROUND_JOB" in self.events
            if ev.uuid != self.myevents_uuid:
                return False
        if "ALL" not in self.events:
            if ev.name not in self.events:
                return False
            if ev.name == "CUSTOM" and ev.subclass not in self.subclasses:
                return False
        if self.filters:
            return self._filter_pass(ev)
        return True

    def _filter_pass(self, ev):
        # mod_event_socket.c l.321-372: any positive match sends, a negative match vetoes.
        send = False
        for name, value in self.filters:
            hval = ev.get(name)
            if hval is None:
                continue
            pos = not value.startswith("-")
            comp = value if pos else value[1:]
            if value.startswith("/"):
                pat = comp.strip("/")
                cmp = re.search(pat, hval) is not None
            else:
                cmp = hval.lower() == comp.lower()
            if cmp:
                if pos:
                    send = True
                else:
                    return False
        return send

    # -- reading -----------------------------------------------------------------------------
    def _read_loop(self):
        if self.silent:
            self._drain_silently()
            return
        buf = b""
        try:
            self.sock.settimeout(self.switch.auth_timeout)
            while True:
                while b"\n\n" not in buf.replace(b"\r\n", b"\n"):
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise EOFError
                    buf += chunk
                norm = buf.replace(b"\r\n", b"\n")
                head, _, rest = norm.partition(b"\n\n")
                lines = head.decode("utf-8", "replace").split("\n")
                hdrs = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
                body = b""
                if "Content-Length" in hdrs:
                    n = int(hdrs["Content-Length"])
                    while len(rest) < n:
                        chunk = self.sock.recv(65536)
                        if not chunk:
                            raise EOFError
                        rest += chunk
                    body, rest = rest[:n], rest[n:]
                buf = rest
                if not lines[0].strip() and not hdrs:
                    continue
                if not self.handle(lines[0].strip(), hdrs, body):
                    return
        except (EOFError, OSError, socket.timeout):
            pass
        except Exception:  # a bug in the emulator must not silently hang the client
            log.exception("conn %d: command handling failed", self.id)
        self.alive = False
        with self._qcond:
            self._queue.append((_CLOSE, None))
            self._qcond.notify()

    def _drain_silently(self):
        """A hung switch: the kernel accepted the connection, nobody answers; whatever the client
        sends is read and ignored until it (or ``stop``) closes the connection."""
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.alive = False
        with self._qcond:
            self._queue.append((_CLOSE, None))
            self._qcond.notify()

    def handle(self, line, hdrs, body):
        """Execute one command; False ends the reader."""
        sw = self.switch
        word, _, args = line.partition(" ")
        cmd = word.lower()
        if not self.authed:
            if cmd == "auth":
                if args.strip() == sw.password:
                    self.authed = True
                    self.sock.settimeout(None)   # the 25 s limit only covers the auth phase
                    self.send(enc.command_reply("+OK accepted"))
                    return True
                self.send(enc.command_reply("-ERR invalid"))
                self.close(enc.DISCONNECT_GOODBYE)
                return False
            self.send(enc.command_reply("-ERR command not found"))
            return True
        if cmd in ("exit", "..."):
            self.send(enc.command_reply("+OK bye"))
            self.close(enc.DISCONNECT_GOODBYE)
            return False
        if cmd == "api":
            sw._run_api(self, args, hdrs)
            return True
        if cmd == "bgapi":
            sw._run_bgapi(self, args, hdrs)
            return True
        sw._record_command(self, "command", line)
        handler = getattr(self, "_cmd_" + cmd, None)
        if handler is None:
            self.send(enc.command_reply("-ERR command not found"))
        else:
            self.send(enc.command_reply(handler(args.strip())))
        return True

    def _cmd_event(self, args):
        words = args.split()
        fmt = "plain"
        if words and words[0].lower() in FORMATS:
            fmt = words.pop(0).lower()
        custom = False
        ok = False
        with self.switch.lock:
            for w in words:
                if custom and w.upper() not in KNOWN_EVENTS:
                    self.subclasses.add(w)
                    ok = True
                    continue
                name = w.upper()
                if name in KNOWN_EVENTS:
                    custom = name == "CUSTOM"
                    self.events.add(name)
                    ok = True
            if not ok:
                return "-ERR no keywords supplied"
            self.format = fmt
        self.switch._subscribed(self)
        return "+OK event listener enabled %s" % fmt

    def _cmd_nixevent(self, args):
        custom = False
        with self.switch.lock:
            for w in args.split():
                name = w.upper()
                if custom and name not in KNOWN_EVENTS:
                    self.subclasses.discard(w)
                elif name == "ALL":
                    self.events.clear()
                    self.subclasses.clear()
                else:
                    custom = name == "CUSTOM"
                    if not custom:
                        self.events.discard(name)
        return "+OK events nixed"

    def _cmd_noevents(self, args):
        with self.switch.lock:
            if self.format is None:
                return "-ERR not listening for events"
            self.format = None
            self.events.clear()
            self.subclasses.clear()
        with self._qcond:
            keep = [(f, m) for f, m in self._queue if not isinstance(m, Event)]
            self._queue.clear()
            self._queue.extend(keep)
        return "+OK no longer listening for events"

    def _cmd_filter(self, args):
        words = args.split(" ", 1)
        if not args or len(words) < 2 and words[0].lower() != "delete":
            return "-ERR invalid syntax"
        with self.switch.lock:
            if words[0].lower() == "delete":
                rest = words[1] if len(words) > 1 else ""
                name, _, value = rest.partition(" ")
                if not name:
                    return "-ERR invalid syntax"
                if name.lower() == "all":
                    self.filters.clear()
                else:
                    self.filters = [(h, v) for h, v in self.filters
                                    if not (h == name and (not value or v == value))]
                return "+OK filter deleted. [%s][%s]" % (name, value)
            if words[0].lower() == "add":
                name, _, value = words[1].partition(" ")
            else:
                name, value = words[0], words[1]
            if not value:
                return "-ERR invalid syntax"
            self.filters.append((name, value))
        return "+OK filter added. [%s]=[%s]" % (name, value)

    def _cmd_myevents(self, args):
        words = args.split()
        with self.switch.lock:
            if self.myevents_uuid is not None:
                return "-ERR aready enabled."
            if not words:
                return "-ERR invalid uuid"  # inbound myevents needs a uuid
            uid = words[0]
            if len(words) > 1 and uid not in self.switch.legs:
                return "-ERR invalid uuid"
            self.myevents_uuid = uid
            self.format = words[1].lower() if len(words) > 1 and words[1].lower() in FORMATS else "plain"
            self.events.update(MYEVENTS)
        self.switch._subscribed(self)
        return "+OK Events Enabled"

    def _cmd_linger(self, args):
        if self.myevents_uuid is None:
            return "-ERR not controlling a session"
        self.linger = True
        return "+OK will linger %s seconds" % args if args else "+OK will linger"

    def _cmd_nolinger(self, args):
        if self.myevents_uuid is None:
            return "-ERR not controlling a session"
        self.linger = False
        return "+OK will not linger"

    def _cmd_sendevent(self, args):
        return "+OK %s" % _uuid.uuid4()

    def _cmd_sendmsg(self, args):
        uid = args.split()[0] if args else ""
        if uid and uid not in self.switch.legs:
            return "-ERR invalid session id [%s]" % uid
        return "+OK"

    def _cmd_log(self, args):
        return "+OK log level %s [%d]" % (args or "debug", 7)

    def _cmd_nolog(self, args):
        return "+OK no longer logging"


class Listener:
    """Accept loop on 127.0.0.1:<port>; hands sockets to the switch."""

    def __init__(self, switch, host, port):
        self.switch = switch
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()
        self._thread = threading.Thread(target=self._loop, name="esl-accept", daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            try:
                s, addr = self.sock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.switch._accept(s, addr)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=5)
