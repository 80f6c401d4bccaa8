"""Throughput and latency, side by side with the plain greenswitch baseline, in one run.

Cases (each: a fresh switch process on core 0, the measured client on core 1):
1. ``baseline-max``   replay source, calls offered as fast as the client reads, to the greenswitch loop;
2. ``controller-max`` the same stream to ``python -m controller`` (real process, fresh database copy);
3. ``controller-<R>cps`` replay at a fixed rate R (default 500 calls/s): event -> uuid_record latency;
4. ``emulator-<E>cps`` the full emulator's own load generator (``fs.load``) at a rate it can produce.

`python -m bench.throughput [--calls N] [--rate R] [--emulator-cps E] [--json out]`
"""
from __future__ import annotations

import argparse
import sys

from .harness import Workdir, publish, run_case

KEYS = ("events_per_s", "calls_per_s", "cpu_percent", "peak_rss_mb", "busy_seconds")


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def lat(r, key="latency_all"):
    x = r.get(key) or {}
    return f"{fmt(x.get('p50_ms'), 2)} / {fmt(x.get('p99_ms'), 2)} / {fmt(x.get('max_ms'), 2)}"


def run(work: Workdir, calls: int = 3000, rate: float = 500.0, rate_seconds: float = 20.0,
        emulator_cps: float = 100.0, emulator_seconds: float = 20.0, hold: float = 2.0, quick: bool = False) -> dict:
    out = {}
    out["baseline"] = run_case(work, "baseline-max", client="baseline", calls=calls, cps=0, hold=hold)
    out["controller"] = run_case(work, "controller-max", client="controller", calls=calls, cps=0, hold=hold)
    n_rate = max(10, int(rate * rate_seconds))
    out["rate"] = run_case(work, f"controller-{int(rate)}cps", client="controller", calls=n_rate, cps=rate,
                           hold=hold)
    if emulator_cps:
        n_emu = max(10, int(emulator_cps * emulator_seconds))
        out["emulator"] = run_case(work, f"emulator-{int(emulator_cps)}cps", client="controller",
                                   source="emulator", calls=n_emu, cps=emulator_cps, hold=hold)
    b, c = out["baseline"], out["controller"]
    ratio = (c["events_per_s"] / b["events_per_s"]) if c.get("events_per_s") and b.get("events_per_s") else None
    out["ratio_controller_vs_baseline"] = round(ratio, 2) if ratio else None
    return out


def report(res: dict) -> str:
    b, c, r = res["baseline"], res["controller"], res["rate"]
    e = res.get("emulator")
    lines = ["## Throughput (saturation: calls offered as fast as the client reads; replay source)", "",
             f"{res['baseline']['calls']:,} calls, {fmt(c.get('events_per_call'))} subscribed events/call, "
             f"{fmt(c.get('event_bytes_avg'))} bytes/event on average; client pinned to one core", "",
             "| figure | greenswitch baseline | controller | controller / baseline |",
             "|---|---|---|---|"]
    for k in KEYS:
        ratio = ""
        if k in ("events_per_s", "calls_per_s") and b.get(k) and c.get(k):
            ratio = f"{c[k] / b[k]:.2f}x"
        lines.append(f"| {k} | {fmt(b.get(k))} | {fmt(c.get(k))} | {ratio} |")
    lines.append(f"| uuid_record received / expected | n/a | {fmt(c.get('uuid_record_received'))} / "
                 f"{fmt(c.get('uuid_record_expected'))} | |")
    lines.append(f"| event->uuid_record p50/p99/max ms | n/a | {lat(c)} | |")
    lines.append(f"| max controller queue depth | n/a | {fmt(c.get('max_queue_depth'))} | |")
    lines.append(f"| failed uuid_record (metric) | n/a | "
                 f"{fmt((c.get('metrics_final') or {}).get('callrec_recordings_failed_total'))} | |")
    lines += ["", f"## Fixed rate: {fmt(r['cps_offered'])} calls/s offered for {fmt(r['load_seconds'])} s "
                  f"({r['calls']:,} calls, replay source)", "",
              "| figure | value |", "|---|---|",
              f"| events/s handled | {fmt(r.get('events_per_s'))} |",
              f"| event->uuid_record p50 / p99 / max (ms), all legs | {lat(r)} |",
              f"| same, A-leg only (trigger = CHANNEL_BRIDGE) | {lat(r, 'latency_a_leg')} |",
              f"| uuid_record received / expected | {fmt(r.get('uuid_record_received'))} / "
              f"{fmt(r.get('uuid_record_expected'))} |",
              f"| CPU % (100 = one core) | {fmt(r.get('cpu_percent'))} |",
              f"| peak RSS MB | {fmt(r.get('peak_rss_mb'))} |",
              f"| max queue depth / max pending DB writes | {fmt(r.get('max_queue_depth'))} / "
              f"{fmt(r.get('max_db_pending'))} |",
              f"| failed uuid_record (metric) | "
              f"{fmt((r.get('metrics_final') or {}).get('callrec_recordings_failed_total'))} |"]
    if e:
        lines += ["", f"## Full emulator (`fs.load`) at {fmt(e['cps_offered'])} calls/s for "
                      f"{fmt(e['load_seconds'])} s ({e['calls']:,} calls)", "",
                  "| figure | value |", "|---|---|",
                  f"| events/s handled | {fmt(e.get('events_per_s'))} |",
                  f"| event->uuid_record p50 / p99 / max (ms) (emulator's CommandRecord.latency) | {lat(e)} |",
                  f"| uuid_record received / expected | {fmt(e.get('uuid_record_received'))} / "
                  f"{fmt(e.get('uuid_record_expected'))} |",
                  f"| CPU % | {fmt(e.get('cpu_percent'))} |",
                  f"| peak RSS MB | {fmt(e.get('peak_rss_mb'))} |",
                  f"| triggers (last event sent about the leg) | {e.get('latency_triggers')} |"]
    lines += ["", f"controller / baseline events/s: **{fmt(res.get('ratio_controller_vs_baseline'), 2)}x**"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3000, help="calls in each saturation case")
    ap.add_argument("--rate", type=float, default=500.0, help="fixed-rate case, calls/s")
    ap.add_argument("--rate-seconds", type=float, default=20.0)
    ap.add_argument("--emulator-cps", type=float, default=100.0, help="0 skips the full-emulator case")
    ap.add_argument("--emulator-seconds", type=float, default=20.0)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Workdir(args.users, args.workdir)
    res = run(work, args.calls, args.rate, args.rate_seconds, args.emulator_cps, args.emulator_seconds)
    return publish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
