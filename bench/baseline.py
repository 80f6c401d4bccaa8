"""Baseline client: a plain greenswitch 0.0.19 `InboundESL` handler loop that only counts events.

`python -m bench.baseline --port P --expect N --report out.json` subscribes to the controller's event list,
counts every event its handlers get (greenswitch parses each one into a header dict, as any greenswitch
application pays), and writes {events, first/last handled time, rate} when N events were handled or the
stream stayed idle for `--idle` seconds. This is the floor a greenswitch-based controller starts from.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import gevent
from greenswitch import InboundESL

SUBSCRIBED = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE",
              "DTMF", "RECORD_START", "RECORD_STOP", "HEARTBEAT")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--password", default="ClueCon")
    ap.add_argument("--expect", type=int, default=0, help="stop after this many events (0: on idle)")
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--report", required=True)
    args = ap.parse_args(argv)

    state = {"n": 0, "first": None, "last": None, "by_name": {}}
    series = []  # (monotonic t, handled count), every 0.5 s

    def count(event):
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        state["last"] = now
        state["n"] += 1
        name = event.headers.get("Event-Name", "")
        state["by_name"][name] = state["by_name"].get(name, 0) + 1

    fs = InboundESL(host=args.host, port=args.port, password=args.password)
    for name in SUBSCRIBED:
        fs.register_handle(name, count)
    fs.connect()
    fs.send("event plain " + " ".join(SUBSCRIBED))
    t_start = time.monotonic()
    while True:
        gevent.sleep(0.5)
        now = time.monotonic()
        series.append((round(now - t_start, 3), state["n"]))
        if args.expect and state["n"] >= args.expect:
            break
        if state["last"] is not None and now - state["last"] > args.idle:
            break
        if state["last"] is None and now - t_start > 120:
            break
        if not fs.connected:
            break
    first, last = state["first"], state["last"]
    span = (last - first) if first is not None and last is not None else 0.0
    report = {"events": state["n"], "by_name": state["by_name"], "span_s": round(span, 3),
              "events_per_s": round(state["n"] / span, 1) if span > 0 else None,
              "first_rel_s": round(first - t_start, 3) if first else None, "series": series,
              "pid": os.getpid()}
    with open(args.report + ".tmp", "w") as fh:
        json.dump(report, fh)
    os.replace(args.report + ".tmp", args.report)
    try:
        with gevent.Timeout(3):
            fs.stop()
    except BaseException:  # noqa: BLE001 - best effort
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
