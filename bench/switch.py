"""Bench-only switch launcher (its own process): serves one ESL client a load and writes a JSON report.

Two sources, both built from the emulator in ``tests/fakeswitch``:

* ``--source emulator``: the real ``FakeSwitch`` and its load generator ``fs.load(calls, cps, hold)``
  (every call modelled: ~45 events rendered per call, the subscribed ones sent). Latency is the emulator's
  own ``CommandRecord.latency`` (trigger event written -> ``uuid_record`` arrived).
* ``--source replay``: the same user->user call, rendered ONCE per caller/callee pair by a ``FakeSwitch``
  (same headers, order and sizes), then replayed with fresh UUIDs per call by a lean sender: the subscribed
  events (CHANNEL_ANSWER B, CHANNEL_ANSWER A, CHANNEL_BRIDGE; later CHANNEL_UNBRIDGE, RECORD_STOPs,
  CHANNEL_HANGUP_COMPLETE B/A) and, when a ``uuid_record <leg> start <path>`` arrives, that leg's
  RECORD_START with that path (as FreeSWITCH does). Every api gets ``+OK``. It can offer far more calls per
  second than the full emulator, so the controller (not the source) is what saturates.
  ``--synthetic-records`` sends the RECORD_START/STOP without waiting for a command (for the baseline
  client, which sends none) so both clients get the same event stream.

Latency (replay): from the moment the write of the CHANNEL_BRIDGE batch completed to the arrival of the
``uuid_record ... start`` of each leg. ``--cps 0`` offers calls as fast as the client reads (TCP
back-pressure paces the sender).

Prints ``READY <port>`` on stdout when listening; writes the report to ``--report`` and exits when the
load is done and every expected ``uuid_record`` arrived (or ``--settle`` seconds passed).
"""
from __future__ import annotations

import argparse
import collections
import heapq
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import uuid as _uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.fakeswitch import FakeSwitch, commands  # noqa: E402
from tests.fakeswitch import encoding as enc  # noqa: E402

log = logging.getLogger("bench.switch")

SUBSCRIBED = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE",
              "DTMF", "RECORD_START", "RECORD_STOP", "HEARTBEAT")
PATH_MARK = "/bench-template-path/rec.wav"


def users_for(n: int, first: int = 2000) -> list[str]:
    return [str(first + i) for i in range(n)]


# ------------------------------------------------------------------------------------------ templates
class CallTemplate:
    """The subscribed events of one user->user call, as plain-event bodies with the template's UUIDs."""

    def __init__(self, a_uuid, b_uuid, setup, rec_start, teardown, rec_stop):
        self.a_uuid, self.b_uuid = a_uuid, b_uuid
        self.setup = setup          # [body] ANSWER B, ANSWER A, BRIDGE
        self.rec_start = rec_start  # {"a"|"b": body with PATH_MARK}
        self.teardown = teardown    # [(kind, body)]: kind "ev" or ("stop", side)
        self.rec_stop = rec_stop


def capture_template(caller: str, callee: str, tmpdir: str) -> CallTemplate:
    """Run one call through a FakeSwitch (no client) and keep the events a controller subscribes to."""
    fs = FakeSwitch(recordings_dir=tmpdir)
    fs.flush_on_advance = False
    call = fs.call_user_to_user(caller, callee)
    call.ring()
    call.answer()
    a, b = call.a.uuid, call.b.uuid
    setup = [e.text for e in fs.events if e.name in SUBSCRIBED]
    mark = len(fs.events)
    with fs.lock:
        for leg in (a, b):
            commands.execute(fs, "uuid_record %s start %s 0 {callrec_account=x,callrec_call=%s,callrec_trigger=auto}"
                             % (leg, PATH_MARK, a))
    rec_start = {}
    for e in fs.events[mark:]:
        if e.name == "RECORD_START":
            rec_start["a" if e.uuid == a else "b"] = e.text
    mark = len(fs.events)
    fs.advance(1.0)
    call.hangup("a")
    teardown, rec_stop = [], {}
    for e in fs.events[mark:]:
        if e.name not in SUBSCRIBED:
            continue
        if e.name == "RECORD_STOP":
            side = "a" if e.uuid == a else "b"
            rec_stop[side] = e.text
            teardown.append(("stop", side))
        else:
            teardown.append(("ev", e.text))
    assert [t.split("\n", 1)[0] for t in setup], "no setup events"
    assert set(rec_start) == {"a", "b"} and set(rec_stop) == {"a", "b"}, (rec_start.keys(), rec_stop.keys())
    return CallTemplate(a, b, setup, rec_start, teardown, rec_stop)


def frame(body: str) -> bytes:
    data = body.encode("utf-8", "surrogateescape")
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(data) + data


# ------------------------------------------------------------------------------------------ replay server
class ReplaySwitch:
    """A lean ESL server for one client at a time, replaying templated calls (see module docstring)."""

    def __init__(self, templates, password="ClueCon", host="127.0.0.1", port=0, synthetic_records=False,
                 queue_limit=100000, max_missed=500):
        self.templates = templates
        self.password = password
        self.synthetic = synthetic_records
        self.record_every = 1
        self.idle_fs = FakeSwitch()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, port))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.sock = None
        self.wlock = threading.Lock()
        self.subscribed = threading.Event()
        self.closed = threading.Event()
        self.calls = {}            # a_uuid -> call dict
        self.by_leg = {}           # leg uuid -> (a_uuid, side)
        self.commands = []         # (arrival time, line)
        self.events_sent = 0
        self.bytes_sent = 0
        self.send_blocked = 0.0    # seconds the writer spent in sendall (the client not reading)
        self.q = collections.deque()
        self.qcond = threading.Condition()
        self.q_events = self.q_peak = 0
        self.queue_limit, self.max_missed = queue_limit, max_missed
        self.block_at = 2000
        self.lost = self.missed = 0
        self.killed = False

    # -- io --------------------------------------------------------------------------------------
    def accept(self, timeout=60):
        self.srv.settimeout(timeout)
        sock, _ = self.srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.sock = sock
        self.write(enc.AUTH_REQUEST)
        threading.Thread(target=self._read_loop, name="replay-read", daemon=True).start()
        threading.Thread(target=self._write_loop, name="replay-write", daemon=True).start()

    def write(self, data: bytes, events: int = 0) -> None:
        """Write now (api replies: FreeSWITCH's listener thread answers directly)."""
        with self.wlock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed.set()
                return
            self.events_sent += events
            self.bytes_sent += len(data)

    def offer(self, data: bytes, events: int, call=None, block: bool = False) -> bool:
        """Queue events for the client like mod_event_socket's listener queue: bounded (`queue_limit`
        events); when full, events are lost and after `max_missed` losses the listener is killed with
        FreeSWITCH's "killed listener because of lost events" notice. `block` (the --cps 0 mode) waits for
        room instead, so the offered rate is what the client reads."""
        with self.qcond:
            if block:
                while self.q_events >= self.block_at and not self.closed.is_set():
                    self.qcond.wait(0.5)
            if self.killed or self.closed.is_set():
                self.lost += events
                return False
            if self.q_events + events > self.queue_limit:
                self.lost += events
                self.missed += 1
                if self.missed >= self.max_missed:
                    self.killed = True
                    self.q.append((enc.disconnect_notice(enc.LOST_EVENTS_NOTICE), 0, None))
                    self.q.append((None, 0, None))
                    self.qcond.notify_all()
                return False
            self.q.append((data, events, call))
            self.q_events += events
            self.q_peak = max(self.q_peak, self.q_events)
            self.qcond.notify_all()
            return True

    def _write_loop(self):
        while True:
            with self.qcond:
                while not self.q:
                    self.qcond.wait()
                data, events, call = self.q.popleft()
            if data is None:
                self.write(b"")
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.closed.set()
                return
            t = time.perf_counter()
            if call is not None:
                call["sent_before"] = time.time()
            self.write(data, events)
            self.send_blocked += time.perf_counter() - t
            if call is not None:
                call["sent"] = time.time()
            with self.qcond:
                self.q_events -= events
                self.qcond.notify_all()

    def _read_loop(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                now = time.time()
                buf += data
                while True:
                    end = buf.find(b"\n\n")
                    if end < 0:
                        break
                    cmd, buf = buf[:end].decode("utf-8", "replace"), buf[end + 2:]
                    cmd = cmd.strip()
                    if cmd:
                        try:
                            self._command(cmd, now)
                        except Exception:  # noqa: BLE001 - never stop answering the client
                            log.exception("command %r failed", cmd[:200])
                            self.write(enc.api_response("-ERR bench switch error\n"))
        except OSError:
            pass
        self.closed.set()

    def _command(self, cmd, now):
        line = cmd.split("\n", 1)[0]
        if line.startswith("auth "):
            ok = line[5:].strip() == self.password
            self.write(enc.command_reply("+OK accepted" if ok else "-ERR invalid"))
        elif line.startswith("event "):
            self.write(enc.command_reply("+OK event listener enabled " + line.split()[1]))
            self.subscribed.set()
        elif line.startswith("api "):
            api = line[4:]
            self.commands.append((now, api))
            reply = "+OK Success\n"
            extra = b""
            parts = api.split()
            if parts[0] == "uuid_record" and len(parts) >= 4 and parts[2] == "start":
                ref = self.by_leg.get(parts[1])
                if ref is not None and self.calls[ref[0]].get("ended"):
                    reply = "-ERR Cannot locate session!\n"   # the channel is gone, as FreeSWITCH says
                elif ref is not None:
                    a, side = ref
                    call = self.calls[a]
                    call["paths"][side] = parts[3]
                    if not self.synthetic:
                        extra = self._rec_frame(call, "start", side, parts[3])
            elif parts[0] == "uuid_broadcast":
                reply = "+OK Message queued\n"
            elif not parts[0].startswith("uuid_"):
                with self.idle_fs.lock:   # show channels, status, ...: what an idle emulator answers
                    reply = commands.execute(self.idle_fs, api, None)
            self.write(enc.api_response(reply))
            if extra:
                self.offer(extra, 1)
        elif line.startswith("exit"):
            self.write(enc.command_reply("+OK bye"))
            self.closed.set()
        else:
            self.write(enc.command_reply("+OK"))

    def _rec_frame(self, call, kind, side, path):
        t = call["tpl"]
        body = (t.rec_start if kind == "start" else t.rec_stop)[side]
        body = body.replace(t.a_uuid, call["a"]).replace(t.b_uuid, call["b"]).replace(PATH_MARK, path)
        return frame(body)

    # -- load --------------------------------------------------------------------------------------
    def start_call(self, i, block=False):
        tpl = self.templates[i % len(self.templates)]
        a, b = str(_uuid.uuid4()), str(_uuid.uuid4())
        call = {"a": a, "b": b, "tpl": tpl, "paths": {}, "sent": None, "sent_before": None, "offered": None,
                "rec": (i % len(self.templates)) % self.record_every == 0}
        self.calls[a] = call
        self.by_leg[a] = (a, "a")
        self.by_leg[b] = (a, "b")
        data = b"".join(frame(body.replace(tpl.a_uuid, a).replace(tpl.b_uuid, b)) for body in tpl.setup)
        n = len(tpl.setup)
        if self.synthetic:
            for side in ("a", "b"):
                call["paths"][side] = PATH_MARK
                data += self._rec_frame(call, "start", side, PATH_MARK)
                n += 1
        call["offered"] = time.time()
        self.offer(data, n, call, block)
        return a

    def end_call(self, a):
        call = self.calls[a]
        tpl = call["tpl"]
        parts, n = [], 0
        for kind, body in tpl.teardown:
            if kind == "stop":
                path = call["paths"].get(body)
                if path is None:
                    continue
                parts.append(self._rec_frame(call, "stop", body, path))
            else:
                parts.append(frame(body.replace(tpl.a_uuid, a).replace(tpl.b_uuid, call["b"])))
            n += 1
        self.offer(b"".join(parts), n)
        call["ended"] = True

    def heartbeat(self, seq):
        body = ("Event-Name: HEARTBEAT\nCore-UUID: bench\nEvent-Sequence: %d\nEvent-Info: System%%20Ready\n"
                "Up-Time: 0\n\n" % seq)
        self.offer(frame(body), 1)


def run_replay(args, report):
    tmp = tempfile.mkdtemp(prefix="bench-tpl-")
    users = users_for(args.users)
    pairs = [(users[(2 * i) % len(users)], users[(2 * i + 1) % len(users)]) for i in range(max(1, len(users) // 2))]
    t = time.perf_counter()
    templates = [capture_template(c, d, tmp) for c, d in pairs]
    report["template_seconds"] = round(time.perf_counter() - t, 3)
    tpl = templates[0]
    sizes = [len(x) for x in tpl.setup] + [len(b) for k, b in tpl.teardown if k == "ev"] + \
        [len(tpl.rec_start["a"]), len(tpl.rec_stop["a"])]
    report["event_bytes_avg"] = round(sum(sizes) / len(sizes))
    report["events_per_call"] = len(tpl.setup) + len(tpl.teardown) + 2
    sw = ReplaySwitch(templates, port=args.port, synthetic_records=args.synthetic_records)
    sw.record_every = args.record_every
    print("READY %d" % sw.port, flush=True)
    sw.accept(timeout=args.accept_timeout)
    if not sw.subscribed.wait(30):
        raise SystemExit("client never subscribed")
    time.sleep(args.warmup)
    plan = []
    seq = 0
    t0 = time.monotonic()
    report["t_load_start"] = time.time()
    nxt = 0
    hb = 0
    last_hb = t0
    lag_max = 0.0
    while (nxt < args.calls or plan) and not sw.closed.is_set():
        now = time.monotonic()
        if now - last_hb >= 1.0:
            hb += 1
            sw.heartbeat(hb)
            last_hb = now
        if plan and plan[0][0] <= now:
            _, _, a = heapq.heappop(plan)
            sw.end_call(a)
            continue
        if nxt < args.calls:
            due = t0 + (nxt / args.cps if args.cps else 0.0)
            if due <= now:
                lag_max = max(lag_max, now - due)
                a = sw.start_call(nxt, block=not args.cps)
                nxt += 1
                seq += 1
                heapq.heappush(plan, (time.monotonic() + args.hold, seq, a))
                continue
            wake = due
        else:
            wake = plan[0][0]
        if plan:
            wake = min(wake, plan[0][0])
        time.sleep(max(0.0, min(wake - time.monotonic(), 0.05)))
    report["t_load_end"] = time.time()
    while sw.q and not sw.closed.is_set():
        time.sleep(0.05)
    report["t_sent_end"] = time.time()
    report["sender_lag_max_s"] = round(lag_max, 3)
    report["send_blocked_s"] = round(sw.send_blocked, 3)
    npairs = len(templates)
    recorded = sum(1 for i in range(args.calls) if (i % npairs) % args.record_every == 0)
    expected = 0 if args.synthetic_records else 2 * recorded
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline and not sw.closed.is_set():
        if expected and sum(1 for _, l in sw.commands if " start " in l and l.startswith("uuid_record")) >= expected:
            break
        time.sleep(0.2)
    if not expected:
        sw.closed.wait(args.settle)
    time.sleep(0.3)
    lat, lat_a, lat_offer, got_legs = [], [], [], set()
    for at, line in list(sw.commands):
        p = line.split()
        if p[0] != "uuid_record" or len(p) < 3 or p[2] != "start":
            continue
        got_legs.add(p[1])
        ref = sw.by_leg.get(p[1])
        if ref is None:
            continue
        call = sw.calls[ref[0]]
        sent = call["sent"] if call["sent"] is not None and call["sent"] <= at else call["sent_before"]
        lat.append(at - sent)
        lat_offer.append(at - call["offered"])
        if ref[1] == "a":
            lat_a.append(at - sent)
    report.update(
        calls=args.calls, events_sent=sw.events_sent, bytes_sent=sw.bytes_sent,
        uuid_record_expected=expected, uuid_record_received=len(got_legs),
        missing_legs=len([u for u, (a, side) in sw.by_leg.items() if u not in got_legs and
                          sw.calls[a].get("rec", True)]) if expected else 0,
        commands=len(sw.commands),
        commands_by_kind=_count_kinds(sw.commands),
        switch_queue_peak_events=sw.q_peak, events_lost=sw.lost, listener_killed=sw.killed,
        latencies_s=lat, latencies_a_s=lat_a, latencies_offered_s=lat_offer)


def _count_kinds(cmds):
    out = {}
    for _, line in cmds:
        k = line.split(" ", 1)[0]
        out[k] = out.get(k, 0) + 1
    return out


# ------------------------------------------------------------------------------------------ emulator
def run_emulator(args, report):
    from tests.fakeswitch import server

    counts = {"events": 0, "bytes": 0}
    orig = server.Connection._enqueue_event

    def counting(self, ev):   # bench-only instrumentation: count what is queued to the client
        counts["events"] += 1
        counts["bytes"] += len(ev.text)
        return orig(self, ev)

    server.Connection._enqueue_event = counting
    rec_dir = args.recordings_dir or tempfile.mkdtemp(prefix="bench-rec-")
    fs = FakeSwitch(port=args.port, recordings_dir=rec_dir).start()
    fs.keep_events = 2000
    print("READY %d" % fs.port, flush=True)
    fs.wait_for_subscriber(timeout=args.accept_timeout)
    time.sleep(args.warmup)
    report["t_load_start"] = time.time()
    t0 = time.monotonic()
    run = fs.load(args.calls, args.cps, hold=args.hold, users=tuple(users_for(args.users)))
    hb_stop = threading.Event()

    def beat():
        while not hb_stop.wait(1.0):
            fs.heartbeat()
    threading.Thread(target=beat, daemon=True).start()
    run.wait(timeout=args.calls / max(args.cps, 1) * 20 + 120)
    hb_stop.set()
    report["t_load_end"] = time.time()
    report["load_seconds"] = round(time.monotonic() - t0, 3)
    expected = 2 * args.calls
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline and len(fs.commands_matching(r"^uuid_record \S+ start")) < expected:
        time.sleep(0.2)
    recs = fs.commands_matching(r"^uuid_record \S+ start")
    legs = {r.line.split()[1] for r in recs}
    a_legs = {c.a.uuid for c in run.calls}
    report.update(
        calls=args.calls, events_sent=counts["events"], bytes_sent=counts["bytes"],
        events_per_call=round(counts["events"] / max(1, args.calls), 2),
        event_bytes_avg=round(counts["bytes"] / max(1, counts["events"])),
        uuid_record_expected=expected, uuid_record_received=len(legs),
        commands=len(fs.commands),
        commands_by_kind=_count_kinds([(r.at, r.line) for r in fs.commands]),
        latencies_s=[r.latency for r in recs if r.latency is not None],
        latencies_a_s=[r.latency for r in recs if r.latency is not None and r.line.split()[1] in a_legs],
        triggers=_trigger_names(recs))
    fs.stop()


def _trigger_names(recs):
    out = {}
    for r in recs:
        name = r.trigger[0] if r.trigger else None
        out[str(name)] = out.get(str(name), 0) + 1
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.switch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=("replay", "emulator"), default="replay")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--cps", type=float, default=100.0, help="calls per second (replay: 0 = as fast as read)")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds between answer and hangup")
    ap.add_argument("--users", type=int, default=100, help="accounts 2000.. (pairs 2000->2001, ...)")
    ap.add_argument("--synthetic-records", action="store_true")
    ap.add_argument("--record-every", type=int, default=1,
                    help="only caller/callee pair k with k %% N == 0 records (harness.setup_db(record_every=N))")
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--accept-timeout", type=float, default=60.0)
    ap.add_argument("--recordings-dir", default=None)
    ap.add_argument("--report", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s switch %(levelname)s %(message)s")
    report = {"source": args.source, "cps_offered": args.cps, "hold": args.hold}
    try:
        (run_replay if args.source == "replay" else run_emulator)(args, report)
    finally:
        with open(args.report + ".tmp", "w") as fh:
            json.dump(report, fh)
        os.replace(args.report + ".tmp", args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
