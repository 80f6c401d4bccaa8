"""Process measurements from /proc (no psutil): CPU %, RSS samples, peak RSS; percentiles; /metrics scraping.

`ProcSampler(pid)` samples one process in a background thread: utime+stime ticks from /proc/<pid>/stat,
VmRSS and VmHWM from /proc/<pid>/status. CPU % is CPU time over wall time (100 % = one core busy).
"""
from __future__ import annotations

import os
import re
import threading
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        raw = fh.read()
    fields = raw[raw.rindex(")") + 2:].split()  # after "(comm)": field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 (utime) and 15 (stime)


def status_kb(pid: int, *names: str) -> dict[str, int]:
    """Values in kB of /proc/<pid>/status lines such as VmRSS, VmHWM."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in names:
                out[key] = int(value.split()[0])
    return out


def percentile(values, q: float):
    """Nearest-rank percentile (q in 0..100) of a sequence; None if empty."""
    if not values:
        return None
    data = sorted(values)
    k = max(0, min(len(data) - 1, int(round(q / 100.0 * len(data) + 0.5)) - 1))
    return data[k]


def latency_summary(seconds) -> dict:
    """p50/p90/p99/max in milliseconds of a list of latencies in seconds."""
    vals = [s for s in seconds if s is not None]
    ms = lambda v: None if v is None else round(v * 1000.0, 3)  # noqa: E731
    return {"n": len(vals), "p50_ms": ms(percentile(vals, 50)), "p90_ms": ms(percentile(vals, 90)),
            "p99_ms": ms(percentile(vals, 99)), "max_ms": ms(max(vals) if vals else None)}


class ProcSampler:
    """Samples CPU time and RSS of a process every `interval` seconds until `stop()`."""

    def __init__(self, pid: int, interval: float = 0.5, metrics_port: int = 0):
        self.pid, self.interval, self.metrics_port = pid, interval, metrics_port
        self.samples: list[dict] = []   # {t, cpu, rss_kb, hwm_kb[, queue_depth, events]}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler-%d" % pid, daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> "ProcSampler":
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def sample(self) -> dict | None:
        try:
            st = status_kb(self.pid, "VmRSS", "VmHWM")
            s = {"t": round(time.monotonic() - self.t0, 3), "wall": time.time(), "cpu": cpu_seconds(self.pid),
                 "rss_kb": st.get("VmRSS", 0), "hwm_kb": st.get("VmHWM", 0)}
        except (OSError, ValueError, IndexError):
            return None
        if self.metrics_port:
            m = scrape(self.metrics_port, timeout=0.4)
            if m:
                s["queue_depth"] = m.get("callrec_event_queue_depth")
                s["events"] = sum(v for k, v in m.items() if k.startswith("callrec_events_total"))
                s["db_pending"] = m.get("callrec_db_pending_writes")
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> "ProcSampler":
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        return self

    # -- summaries -------------------------------------------------------------------------------
    def window(self, t_from: float, t_to: float) -> list[dict]:
        return [s for s in self.samples if t_from <= s["t"] <= t_to]

    def cpu_percent(self, t_from: float = 0.0, t_to: float = 1e18) -> float | None:
        w = self.window(t_from, t_to)
        if len(w) < 2 or w[-1]["t"] <= w[0]["t"]:
            return None
        return round(100.0 * (w[-1]["cpu"] - w[0]["cpu"]) / (w[-1]["t"] - w[0]["t"]), 1)

    def peak_rss_mb(self) -> float | None:
        hwm = max((s["hwm_kb"] for s in self.samples), default=0)
        return round(hwm / 1024.0, 1) if hwm else None

    def rss_series_mb(self, every: float = 5.0) -> list[tuple[float, float]]:
        out, next_t = [], 0.0
        for s in self.samples:
            if s["t"] >= next_t:
                out.append((round(s["t"], 1), round(s["rss_kb"] / 1024.0, 1)))
                next_t = s["t"] + every
        return out


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> dict[str, float]:
    """GET /metrics; {'name{labels}': value}. Empty dict if the endpoint does not answer."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points (e.g. MB per second of RSS)."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return None if den == 0 else sum((p[0] - mx) * (p[1] - my) for p in points) / den
