"""Storm: offer 10x the sustainable call rate for a short time, then let the controller drain.

The replay source keeps a FreeSWITCH-like listener queue (100,000 events; after 500 refused events it sends
"killed listener because of lost events" and closes, as mod_event_socket does), so the switch side behaves
like FreeSWITCH when the client falls behind. Reported: peak RSS, the controller's queue depth (scraped from
/metrics every 0.25 s), what its overload policy did (metrics + log lines), and whether any recording decision
was lost: every call is recorded by policy, so each leg must get exactly one `uuid_record ... start`.

`python -m bench.storm [--sustainable CPS] [--factor 10] [--seconds 3]`
"""
from __future__ import annotations

import argparse
import sys

from .harness import Workdir, publish, run_case
from .throughput import fmt, lat


def run(work: Workdir, sustainable: float = 350.0, factor: float = 10.0, seconds: float = 3.0,
        hold: float = 2.0) -> dict:
    cps = sustainable * factor
    calls = int(cps * seconds)
    res = run_case(work, "storm", client="controller", calls=calls, cps=cps, hold=hold, settle=60.0,
                   sample_every=0.25)
    res["sustainable_cps"] = sustainable
    res["factor"] = factor
    res["storm_seconds"] = seconds
    return res


def report(r: dict) -> str:
    m = r.get("metrics_final") or {}
    lost = (r.get("uuid_record_expected") or 0) - (r.get("uuid_record_received") or 0)
    lc = r.get("log_counts") or {}
    lines = [f"## Storm: {fmt(r['factor'], 0)}x the sustainable {fmt(r['sustainable_cps'], 0)} calls/s = "
             f"{fmt(r['cps_offered'], 0)} calls/s for {fmt(r['storm_seconds'])} s ({r['calls']:,} calls, "
             f"{fmt(r.get('events_sent'))} events offered)", "",
             "| figure | value |", "|---|---|",
             f"| peak RSS MB (VmHWM) | {fmt(r.get('peak_rss_mb'))} |",
             f"| max controller event-queue depth (/metrics) | {fmt(r.get('max_queue_depth'))} |",
             f"| queue-full episodes (callrec_event_queue_overloads_total) | "
             f"{fmt(m.get('callrec_event_queue_overloads_total'))} |",
             f"| max pending DB writes | {fmt(r.get('max_db_pending'))} |",
             f"| switch-side listener queue peak (events) | {fmt(r.get('switch_queue_peak_events'))} |",
             f"| events lost by the switch / listener killed | {fmt(r.get('events_lost'))} / "
             f"{r.get('listener_killed')} |",
             f"| call hold s | {fmt(r.get('hold_s'))} |",
             f"| uuid_record start received / expected | {fmt(r.get('uuid_record_received'))} / "
             f"{fmt(r.get('uuid_record_expected'))} |",
             f"| recording decisions lost | {fmt(lost)} |",
             f"| failed uuid_record (callrec_recordings_failed_total) | "
             f"{fmt(m.get('callrec_recordings_failed_total'))} |",
             f"| log: 'cannot start recording' / 'late reply' / 'overload' lines | "
             f"{fmt(lc.get('cannot start recording'))} / {fmt(lc.get('late reply'))} / {fmt(lc.get('overload'))} |",
             f"| event->uuid_record p50 / p99 / max ms (from the write) | {lat(r)} |",
             f"| same, including the wait in the switch's queue | {lat(r, 'latency_incl_switch_queue')} |",
             f"| time to drain (load start -> last event handled) s | {fmt(r.get('busy_seconds'))} |",
             f"| CPU % | {fmt(r.get('cpu_percent'))} |"]
    if r.get("log_overload"):
        lines += ["", "Overload log lines:", "```"] + r["log_overload"] + ["```"]
    if r.get("log_errors"):
        lines += ["", "First errors:", "```"] + r["log_errors"][:3] + ["```"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sustainable", type=float, default=350.0, help="calls/s the controller sustains")
    ap.add_argument("--factor", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--hold", type=float, default=2.0, help="seconds each call lasts after its bridge (a call "
                    "that ended before the controller handled its bridge is refused by the switch)")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Workdir(args.users, args.workdir)
    res = run(work, args.sustainable, args.factor, args.seconds, args.hold)
    return publish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
