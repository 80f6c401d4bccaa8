"""`python -m bench` (= `make bench`): throughput/latency side by side with the greenswitch baseline, then the
storm (10x the rate the controller just sustained), then a short soak. Prints the figures; `--json FILE` keeps
them all. Each part runs a few minutes at most on a 2-core machine; the full 200,000-call soak is
`python -m bench.soak` (see bench/README.md)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import soak, storm, throughput
from .harness import Workdir, environment


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--calls", type=int, default=3000, help="calls per saturation case")
    ap.add_argument("--rate", type=float, default=500.0, help="fixed-rate latency case, calls/s")
    ap.add_argument("--emulator-cps", type=float, default=100.0)
    ap.add_argument("--storm-factor", type=float, default=10.0)
    ap.add_argument("--storm-seconds", type=float, default=3.0)
    ap.add_argument("--soak-calls", type=int, default=40000)
    ap.add_argument("--soak-cps", type=float, default=300.0)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    env = environment()
    print("# callrec controller benchmark")
    print(f"\nmachine: {env['nproc']} cores ({env['cpu_model']}), {env['mem_gb']} GB; Python {env['python']}, "
          f"gevent {env['gevent']}, greenswitch {env['greenswitch']}; taskset pinning: {env['taskset']}\n",
          flush=True)
    t0 = time.monotonic()
    work = Workdir(args.users)
    tp = throughput.run(work, args.calls, args.rate, 10.0, args.emulator_cps, 10.0)
    print(throughput.report(tp), flush=True)
    sustainable = (tp["controller"].get("calls_per_s") or 300.0)
    st = storm.run(work, sustainable, args.storm_factor, args.storm_seconds)
    print("\n" + storm.report(st), flush=True)
    soak_work = Workdir(args.users, record_every=4)
    sk = soak.run(soak_work, args.soak_calls, args.soak_cps)
    print("\n" + soak.report(sk), flush=True)
    print(f"\n(total {time.monotonic() - t0:.0f} s; work files in {work.path} and {soak_work.path})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"environment": env, "throughput": tp, "storm": st, "soak": sk}, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
