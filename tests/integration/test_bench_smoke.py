"""Smoke test of the benchmark machinery (bench/): a tiny load through the real controller process, the
greenswitch baseline and the full emulator. Correctness only: every expected uuid_record arrived and the
reports carry every figure. No timing is asserted (these are benchmarks, not tests)."""
from __future__ import annotations

import pytest

from bench.harness import Workdir, run_case

FIGURES = ("events_per_s", "calls_per_s", "cpu_percent", "peak_rss_mb", "events_handled", "busy_seconds")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return Workdir(users=4, keep=str(tmp_path_factory.mktemp("bench")))


def test_controller_replay_every_recording_started(work):
    r = run_case(work, "smoke-replay", client="controller", calls=20, cps=50, hold=0.5, settle=20)
    assert r["uuid_record_expected"] == 40
    assert r["uuid_record_received"] == 40
    assert r["legs_without_uuid_record"] == 0
    assert r["commands_by_kind"]["uuid_record"] >= 40
    assert r["latency_all"]["n"] == 40
    assert r["events_handled"] == r["events_sent"]
    for key in FIGURES + ("latency_a_leg", "max_queue_depth", "metrics_final", "rss_series_mb"):
        assert r.get(key) is not None, key


def test_baseline_counts_the_same_stream(work):
    r = run_case(work, "smoke-baseline", client="baseline", calls=20, cps=50, hold=0.5, settle=20)
    assert r["events_handled"] == r["events_sent"] >= 20 * r["events_per_call"]  # + HEARTBEATs
    for key in FIGURES:
        assert r.get(key) is not None, key


def test_controller_with_the_full_emulator(work):
    r = run_case(work, "smoke-emulator", client="controller", source="emulator", calls=10, cps=20, hold=0.5,
                 settle=20)
    assert r["uuid_record_received"] == r["uuid_record_expected"] == 20
    assert r["latency_all"]["n"] == 20


def test_login_flood_bench_reports_every_figure(capsys):
    from bench import login_flood

    assert login_flood.main(["--clients", "2", "--seconds", "1", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    for figure in ("dashboard latency idle:", "dashboard latency under flood:", "login POSTs",
                   "5 failures before the lock"):  # 5: both workers count the same failures
        assert figure in out, out
