"""Profile (or time) the controller's per-event path in-process, on the bench's replayed event stream.

Not a benchmark of the whole process: no socket, no reader, no database thread. The real controller is wired by
`build_controller` (same handlers, same `EslClient._dispatch_loop`, same metrics, INFO logging to a file), with:

* the events of `bench.switch`'s replay (one FakeSwitch-rendered user->user call per caller/callee pair, fresh
  UUIDs per call) put straight into the client's `EventQueue` as `EslEvent`s (what the reader would build);
* a fake connection whose `send_nowait` answers `+OK` at once and, for `uuid_record <leg> start <path>`, queues
  that leg's RECORD_START with that path (as the replay switch does);
* database writes counted, not run (`WriteQueue.submit` replaced): the per-event path on the hub only;
* the policies of a freshly migrated bench database (100 accounts on *Record everything*).

Calls are interleaved: call i's setup (ANSWER B, ANSWER A, BRIDGE), then the teardown of call i - `--hold`
(UNBRIDGE, RECORD_STOPs, HANGUP_COMPLETE B/A), so ~`--hold` calls are live at once; a HEARTBEAT every 1,000 events.

`python -m bench.profile_events [--calls 5000] [--hold 200] [--profile out.prof] [--top 40] [--repeat 3]`
prints events/s of the dispatch loop alone (best of `--repeat`), and with `--profile` the cProfile top list.
"""
from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid as _uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from bench.harness import setup_db  # noqa: E402
from bench.switch import PATH_MARK, capture_template, users_for  # noqa: E402


def build(workdir: str, users: int):
    url = f"sqlite:///{os.path.join(workdir, 'profile.db')}"
    setup_db(url, users)
    os.environ.update(CALLREC_DATABASE_URL=url, CALLREC_RECORDINGS_DIR=os.path.join(workdir, "rec"),
                      CALLREC_ESL_HOST="127.0.0.1", CALLREC_ESL_PORT="1", CALLREC_NODE_NAME="bench")
    from callrec.app import create_core_app
    from callrec.config import load_config
    from controller.builder import build_controller
    from controller.store import Store

    config = load_config()
    app = create_core_app("controller")
    controller = build_controller(config, app=app, run_delivery=False)
    with app.app_context():
        controller.policies.snapshot = Store.load_snapshot()
    writes = {"n": 0}

    def submit(label, fn, *args, prepare=None, on_done=None):
        writes["n"] += 1
        return True

    controller.writes.submit = submit
    return controller, writes


def templates(users: int, workdir: str):
    names = users_for(users)
    return [capture_template(names[i], names[i + 1], workdir) for i in range(0, users - 1, 2)]


def frames(tpls, calls: int, hold: int):
    """[(kind, payload)]: ("ev", raw body bytes) or ("rec", (call dict)) placeholders resolved at run time."""
    stream = []
    live = []
    for i in range(calls):
        tpl = tpls[i % len(tpls)]
        a, b = str(_uuid.uuid4()), str(_uuid.uuid4())
        call = {"a": a, "b": b, "tpl": tpl, "paths": {}}
        live.append(call)
        for body in tpl.setup:
            stream.append(("ev", body.replace(tpl.a_uuid, a).replace(tpl.b_uuid, b).encode()))
        if len(live) > hold:
            stream.extend(teardown(live.pop(0)))
        if i % 100 == 99:
            stream.append(("ev", b"Event-Name: HEARTBEAT\nCore-UUID: bench\nEvent-Sequence: 1\n"
                                 b"Event-Info: System%20Ready\nUp-Time: 0\n\n"))
    for call in live:
        stream.extend(teardown(call))
    return stream


def teardown(call):
    tpl = call["tpl"]
    out = []
    for kind, body in tpl.teardown:
        if kind == "stop":
            out.append(("stop", (call, body)))
        else:
            out.append(("ev", body.replace(tpl.a_uuid, call["a"]).replace(tpl.b_uuid, call["b"]).encode()))
    return out


class FakeConn:
    """What `EslClient._dispatch_loop` and `EslClient.api_nowait` use of an `EslConnection`."""

    def __init__(self, queue, by_leg):
        from controller.esl import EslConnection
        self.events = queue
        self.connected = True
        self.by_leg = by_leg
        self.commands = 0
        self._wait = EslConnection.wait.__get__(self)
        self.command_timeout = 5.0

    def send_nowait(self, command):
        from controller.esl import EslEvent, _Pending
        self.commands += 1
        pending = _Pending(command)
        pending.result.set("+OK Success\n")
        parts = command.split()
        if parts[1] == "uuid_record" and parts[3] == "start":
            ref = self.by_leg.get(parts[2])
            if ref is not None:
                call, side = ref
                call["paths"][side] = parts[4]
                tpl = call["tpl"]
                body = tpl.rec_start[side].replace(tpl.a_uuid, call["a"]).replace(tpl.b_uuid, call["b"])
                self.events.put(EslEvent(body.replace(PATH_MARK, parts[4]).encode(), time.monotonic()))
        return pending

    def wait(self, pending, timeout=None, patient=False):
        return self._wait(pending, timeout, patient)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--hold", type=int, default=200)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write cProfile stats here (one extra run)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="callrec-profile-")
    logging.basicConfig(filename=os.path.join(workdir, "controller.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    controller, writes = build(workdir, args.users)
    tpls = templates(args.users, workdir)
    best = None
    for r in range(args.repeat + (1 if args.profile else 0)):
        stream = frames(tpls, args.calls, args.hold)
        by_leg = {}
        prof = cProfile.Profile() if (args.profile and r == args.repeat) else None
        # the fake switch needs leg -> call for RECORD_START: built from the stream's calls
        for kind, payload in stream:
            if kind == "stop":
                call, side = payload
                by_leg[call["a"]] = (call, "a")
                by_leg[call["b"]] = (call, "b")
        controller.tracker.__init__()  # each run starts with an empty tracker
        events, elapsed, commands = run_with(controller, stream, by_leg, prof)
        rate = events / elapsed
        tag = "profiled" if prof else f"run {r + 1}"
        print(f"{tag}: {events} events in {elapsed:.3f} s = {rate:,.0f} events/s "
              f"({1e6 / rate:.1f} us/event), {commands} commands, {writes['n']} writes so far", flush=True)
        if prof is None:
            best = rate if best is None else max(best, rate)
        else:
            prof.dump_stats(args.profile)
            pstats.Stats(args.profile).sort_stats(args.sort).print_stats(args.top)
    print(f"best: {best:,.0f} events/s ({1e6 / best:.1f} us/event); log: {workdir}/controller.log")
    print("events by name (all runs):", dict(sorted(controller.metrics.event_counts.items())))


def run_with(controller, stream, by_leg, prof):
    from controller.esl import EslEvent, EventQueue
    esl = controller.esl
    queue = EventQueue(10 ** 9, 1 << 40, 1 << 41, shed=esl._sheddable, listener=esl)
    conn = FakeConn(queue, by_leg)
    esl.conn = conn

    def feeder():
        n = 0
        for kind, payload in stream:
            if kind == "ev":
                queue.put(EslEvent(payload, time.monotonic()))
            else:
                call, side = payload
                path = call["paths"].get(side)
                if path is None:
                    continue
                tpl = call["tpl"]
                body = tpl.rec_stop[side].replace(tpl.a_uuid, call["a"]).replace(tpl.b_uuid, call["b"])
                queue.put(EslEvent(body.replace(PATH_MARK, path).encode(), time.monotonic()))
            n += 1
            if n % 50 == 0:
                gevent.sleep(0)  # the reader yields after each read: let the dispatcher run
                while queue.qsize() > 500:  # back-pressure (TCP, in the real thing): stay near the dispatcher,
                    gevent.sleep(0)         # so that a RECORD_STOP is fed after its leg's uuid_record
        while queue.qsize():
            gevent.sleep(0)  # the last RECORD_STARTs come from the fake switch as their bridges are handled
        queue.put(None)

    counted_before = sum(controller.metrics.event_counts.values())
    gevent.sleep(0)
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    feed = gevent.spawn(feeder)
    disp = gevent.spawn(esl._dispatch_loop, conn)
    disp.join()
    gevent.sleep(0)
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - t0
    feed.join()
    events = sum(controller.metrics.event_counts.values()) - counted_before
    return events, elapsed, conn.commands


if __name__ == "__main__":
    main()
