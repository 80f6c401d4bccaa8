"""Soak: many calls (200,000 by default) at a steady rate, RSS sampled over time, to show memory is flat.

A realistic mix: by default one caller/callee pair in four records (`--record-every 4`; the other accounts
have the 'No recording' product), so the controller's database writes keep up with the rate (see RESULTS.md:
every recorded call costs 4 SQLite transactions and the single DB thread does ~500/s).

`python -m bench.soak [--calls 200000] [--cps 300] [--record-every 4]`
"""
from __future__ import annotations

import argparse
import sys

from .harness import Workdir, publish, run_case
from .measure import slope
from .throughput import fmt, lat


def run(work: Workdir, calls: int = 200000, cps: float = 300.0, hold: float = 2.0) -> dict:
    res = run_case(work, "soak", client="controller", calls=calls, cps=cps, hold=hold, settle=120.0,
                   sample_every=2.0)
    samples = [s for s in res["_samples"] if s.get("rss_kb")]
    pts = [(s["t"], s["rss_kb"] / 1024.0) for s in samples]
    n = len(pts)
    half = pts[n // 2:] if n > 4 else pts
    res["rss_slope_mb_per_min_second_half"] = round((slope(half) or 0.0) * 60, 3)
    res["rss_checkpoints_mb"] = {f"{int(q * 100)}%": round(pts[min(n - 1, int(q * (n - 1)))][1], 1)
                                 for q in (0.1, 0.25, 0.5, 0.75, 1.0)} if n else {}
    return res


def report(r: dict) -> str:
    m = r.get("metrics_final") or {}
    lines = [f"## Soak: {r['calls']:,} calls at {fmt(r['cps_offered'], 0)} calls/s "
             f"({fmt(r.get('load_seconds'))} s of load)", "",
             "| figure | value |", "|---|---|",
             f"| events handled | {fmt(r.get('events_handled'))} |",
             f"| uuid_record start received / expected | {fmt(r.get('uuid_record_received'))} / "
             f"{fmt(r.get('uuid_record_expected'))} |",
             f"| failed uuid_record | {fmt(m.get('callrec_recordings_failed_total'))} |",
             f"| event->uuid_record p50 / p99 / max ms | {lat(r)} |",
             f"| CPU % | {fmt(r.get('cpu_percent'))} |",
             f"| peak RSS MB | {fmt(r.get('peak_rss_mb'))} |",
             f"| RSS at 10/25/50/75/100 % of the run (MB) | "
             f"{' / '.join(str(v) for v in (r.get('rss_checkpoints_mb') or {}).values())} |",
             f"| RSS slope over the second half (MB/min) | {fmt(r.get('rss_slope_mb_per_min_second_half'), 3)} |",
             f"| max queue depth / max pending DB writes | {fmt(r.get('max_queue_depth'))} / "
             f"{fmt(r.get('max_db_pending'))} |",
             "", "RSS over time (s, MB): " + ", ".join(f"{t:g}:{v:g}" for t, v in r.get("rss_series_mb", []))]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200000)
    ap.add_argument("--cps", type=float, default=300.0)
    ap.add_argument("--record-every", type=int, default=4)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Workdir(args.users, args.workdir, record_every=args.record_every)
    res = run(work, args.calls, args.cps)
    return publish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
