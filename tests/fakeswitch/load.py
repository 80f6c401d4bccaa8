"""Load generator for benchmarks: N user→user calls at a calls-per-second rate.

One background thread runs a timetable (start, ring, answer, hang up per call) and ticks the
media clock by the real time elapsed (at most every ``grain`` seconds while actions are due),
so recordings started by the controller get audio of the calls' real length.  Waiting between
due actions is ``Event.wait(timeout)`` pacing.  Ended calls are kept in ``LoadRun.calls`` only as
:class:`EndedCall` stubs (uuids), so a long run does not keep every leg's variables.
"""
import heapq
import itertools
import logging
import threading
import time

log = logging.getLogger(__name__)
USERS = ("1000", "1001", "1002", "1003")


class GoneLeg:
    """What is left of a hung-up leg in ``LoadRun.calls``: its uuid and channel name."""

    __slots__ = ("uuid", "name")

    def __init__(self, leg):
        self.uuid, self.name = leg.uuid, leg.name

    def __repr__(self):
        return "<GoneLeg %s>" % self.uuid[:8]


class EndedCall:
    """An ended call of a load run (``a``/``b``: :class:`GoneLeg`)."""

    __slots__ = ("a", "b")
    ended = True

    def __init__(self, call):
        self.a = GoneLeg(call.a)
        self.b = GoneLeg(call.b) if call.b is not None else None


class LoadRun:
    """Handle of a running load: ``started``/``finished`` counts, ``calls`` (in start order: the
    live ``Call``s, ended ones as :class:`EndedCall`), ``wait()``, ``stop()``."""

    def __init__(self):
        self.started = 0
        self.finished = 0
        self.calls = []
        self.done = threading.Event()
        self._stop = threading.Event()
        self.error = None

    def wait(self, timeout=None):
        if not self.done.wait(timeout):
            raise TimeoutError("load not finished: %d/%d calls" % (self.finished, len(self.calls) or 0))
        if self.error:
            raise self.error
        return self

    def stop(self):
        self._stop.set()


def run_load(sw, calls, cps, hold=2.0, ring=0.2, users=USERS, tick=0.1, talk=True, grain=0.01):
    """Start the load in a thread; returns a :class:`LoadRun` at once.  ``grain``: the media
    clock is advanced at most that often while actions are due (advancing costs a pass over
    every live leg), so a recording may miss up to ``grain`` s at its call's end."""
    run = LoadRun()
    seq = itertools.count()
    t0 = time.monotonic()
    plan = [(t0 + i / float(cps), next(seq), "start", i) for i in range(calls)]
    heapq.heapify(plan)

    def step(kind, arg):
        if kind == "start":
            caller = users[(2 * arg) % len(users)]
            callee = users[(2 * arg + 1) % len(users)]
            call = sw.call_user_to_user(caller, callee)
            call.load_index = len(run.calls)
            run.calls.append(call)
            run.started += 1
            now = time.monotonic()
            heapq.heappush(plan, (now + ring, next(seq), "answer", call))
        elif kind == "answer":
            arg.ring()
            arg.answer()
            if talk:
                arg.a.talking = arg.b.talking = True
            heapq.heappush(plan, (time.monotonic() + hold, next(seq), "hangup", arg))
        elif kind == "hangup":
            arg.a.talking = arg.b.talking = False
            arg.hangup("a")
            run.calls[arg.load_index] = EndedCall(arg)
            run.finished += 1

    def loop():
        last = time.monotonic()
        sw.flush_on_advance = False   # files are written at RECORD_STOP; keeps ticks cheap
        try:
            while plan and not run._stop.is_set():
                now = time.monotonic()
                due, _, kind, arg = plan[0]
                if due > now and now - last < tick:
                    run._stop.wait(min(due - now, tick - (now - last)))
                    continue
                if now - last >= grain or (due > now and now > last):
                    sw.advance(now - last)   # real elapsed time becomes media
                    last = now
                if due <= now:
                    heapq.heappop(plan)
                    step(kind, arg)
        except Exception as exc:  # surfaced through wait()
            log.exception("load failed")
            run.error = exc
        finally:
            sw.flush_on_advance = True
            run.done.set()

    threading.Thread(target=loop, name="fakeswitch-load", daemon=True).start()
    return run
