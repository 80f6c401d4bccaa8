"""What the call log (issue 12) costs the event path: the same stream to the controller with the call log off and on,
in ONE run, alternating (off A, on A, off B, on B, ...) so that load on the shared machine hits both alike.

Per round and setting: a saturation case (calls offered as fast as the controller reads: events/s, CPU %) and a
fixed-rate case (event -> uuid_record latency), each with a fresh copy of the database; afterwards the rows of the
case's `call_log` table are counted (off: 0; on: one per recorded account leg, i.e. 2 per call here).

`python -m bench.call_log [--calls 3000] [--rate 500] [--rate-seconds 10] [--rounds 2] [--json out.json]`
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys

from .harness import Workdir, publish, run_case
from .throughput import fmt, lat

SETTINGS = (("off", "false"), ("on", "true"))


def _log_rows(work: Workdir, name: str) -> int | None:
    try:
        with sqlite3.connect(work.file(name + ".db")) as conn:
            return conn.execute("SELECT count(*) FROM call_log").fetchone()[0]
    except sqlite3.Error:
        return None


def run(work: Workdir, calls: int, rate: float, rate_seconds: float, rounds: int, hold: float = 2.0) -> dict:
    out: dict = {"rounds": []}
    for round_no in range(1, rounds + 1):
        one = {}
        for label, value in SETTINGS:
            env = {"CALLREC_CALL_LOG": value}
            name = f"log-{label}-max-{round_no}"
            sat = run_case(work, name, client="controller", calls=calls, cps=0, hold=hold, env_extra=env)
            sat["call_log_rows"] = _log_rows(work, name)
            name = f"log-{label}-{int(rate)}cps-{round_no}"
            fixed = run_case(work, name, client="controller", calls=max(10, int(rate * rate_seconds)), cps=rate,
                             hold=hold, env_extra=env)
            fixed["call_log_rows"] = _log_rows(work, name)
            for case in (sat, fixed):
                case.pop("_samples", None)
            one[label] = {"max": sat, "rate": fixed}
        out["rounds"].append(one)
    return out


def report(res: dict) -> str:
    lines = ["## Call log off vs on (same stream, alternating, one run)", "",
             "| round | call log | events/s (saturation) | calls/s | CPU % | event->uuid_record p50/p99/max ms "
             "(saturation) | uuid_record recv/expected | max pending DB writes | call_log rows |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, one in enumerate(res["rounds"], 1):
        for label, _ in SETTINGS:
            c = one[label]["max"]
            lines.append(f"| {i} | {label} | {fmt(c.get('events_per_s'))} | {fmt(c.get('calls_per_s'))} | "
                         f"{fmt(c.get('cpu_percent'))} | {lat(c)} | {fmt(c.get('uuid_record_received'))} / "
                         f"{fmt(c.get('uuid_record_expected'))} | {fmt(c.get('max_db_pending'))} | "
                         f"{fmt(c.get('call_log_rows'))} |")
    rate = res["rounds"][0]["off"]["rate"]
    lines += ["", f"Fixed rate: {fmt(rate['cps_offered'])} calls/s for {fmt(rate['load_seconds'])} s "
                  f"({rate['calls']:,} calls)", "",
              "| round | call log | events/s | event->uuid_record p50/p99/max ms (all legs) | A-leg p50/p99/max ms | "
              "CPU % | peak RSS MB | max pending DB writes | call_log rows |",
              "|---|---|---|---|---|---|---|---|---|"]
    for i, one in enumerate(res["rounds"], 1):
        for label, _ in SETTINGS:
            r = one[label]["rate"]
            lines.append(f"| {i} | {label} | {fmt(r.get('events_per_s'))} | {lat(r)} | {lat(r, 'latency_a_leg')} | "
                         f"{fmt(r.get('cpu_percent'))} | {fmt(r.get('peak_rss_mb'))} | "
                         f"{fmt(r.get('max_db_pending'))} | {fmt(r.get('call_log_rows'))} |")

    def median(label, key):
        values = [one[label]["max"].get(key) for one in res["rounds"] if one[label]["max"].get(key)]
        return statistics.median(values) if values else None

    off, on = median("off", "events_per_s"), median("on", "events_per_s")
    if off and on:
        lines += ["", f"median saturation events/s: off {fmt(off)}, on {fmt(on)} (on / off = {on / off:.3f})"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.call_log", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3000, help="calls in each saturation case")
    ap.add_argument("--rate", type=float, default=500.0, help="fixed-rate case, calls/s")
    ap.add_argument("--rate-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Workdir(args.users)
    res = run(work, args.calls, args.rate, args.rate_seconds, args.rounds)
    print(f"\nwork files: {work.path}")
    return publish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
