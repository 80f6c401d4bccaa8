"""Run the emulator by hand: ``python -m tests.fakeswitch --port 8021 [--demo] [--calls N]``.

With ``--demo`` it plays scripted calls between users 1000..1003 (and an outside number) in
real time, once a client has subscribed to events (``--no-wait``: at once), so a controller
pointed at it sees a live switch.  Prints ``fakeswitch listening on HOST:PORT`` when ready
(``--port 0`` picks a free port).  Ctrl-C / SIGTERM stops it.
"""
import argparse
import logging
import random
import signal
import sys
import threading

from .switch import FakeSwitch

log = logging.getLogger("tests.fakeswitch.demo")
USERS = ("1000", "1001", "1002", "1003")


def demo(fs, calls, stop, pace=1.0, wait_subscriber=True):
    """Scripted calls forever (or ``calls`` of them); waits are pacing on ``stop``, not sync."""
    rnd = random.Random(1)
    n = 0
    while wait_subscriber and not stop.is_set():   # calls nobody sees are pointless
        try:
            fs.wait_for_subscriber(timeout=1.0, events=())
            break
        except TimeoutError:
            continue
    while not stop.is_set() and (calls is None or n < calls):
        n += 1
        caller, callee = rnd.sample(USERS, 2)
        kind = rnd.choice(("user", "user", "user", "outbound", "inbound", "voicemail"))
        log.info("demo call %d: %s %s -> %s", n, kind, caller, callee)
        if kind == "outbound":
            call = fs.call_user_to_external(caller, "15551234567")
        elif kind == "inbound":
            call = fs.call_external_to_user("15557654321", callee)
        else:
            call = fs.call_user_to_user(caller, callee)
        stop.wait(pace)
        call.ring()
        stop.wait(pace)
        if kind == "voicemail":
            call.no_answer_to_voicemail(message_seconds=3)
            stop.wait(pace)
            call.hangup_voicemail()
        else:
            call.answer()
            for _ in range(rnd.randint(3, 8)):
                if stop.is_set():
                    break
                call.talk(1.0)
                stop.wait(pace)
            if rnd.random() < 0.3:
                call.dtmf("a", "*45")
            call.hangup(rnd.choice("ab"))
        fs.heartbeat()
        stop.wait(pace)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.fakeswitch", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8021)
    ap.add_argument("--password", default="ClueCon")
    ap.add_argument("--recordings-dir", default=None)
    ap.add_argument("--sounds-dir", default=None)
    ap.add_argument("--demo", action="store_true", help="play scripted calls")
    ap.add_argument("--calls", type=int, default=None, help="stop the demo after N calls")
    ap.add_argument("--pace", type=float, default=1.0, help="real seconds between demo steps")
    ap.add_argument("--no-wait", action="store_true", help="start the demo before any client subscribed")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fs = FakeSwitch(password=args.password, host=args.host, port=args.port,
                    recordings_dir=args.recordings_dir, sounds_dir=args.sounds_dir).start()
    # machine-readable readiness line (tests and scripts wait for it instead of polling)
    print("fakeswitch listening on %s:%d" % (fs.host, fs.port), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        if args.demo:
            demo(fs, args.calls, stop, args.pace, wait_subscriber=not args.no_wait)
        else:
            while not stop.wait(20):
                fs.heartbeat()   # FreeSWITCH's default event-heartbeat-interval
    except KeyboardInterrupt:
        pass
    finally:
        fs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
