"""Shared machinery: a fresh database with N recording accounts, the switch / controller / baseline processes
(each its own process, pinned with taskset), sampling, and one `run_case()` that returns a report dict."""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata

from .measure import ProcSampler, latency_summary, scrape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
SWITCH_CPU, CLIENT_CPU = "0", "1"   # taskset cores: the switch on one, the measured client on the other


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def taskset(cpu: str) -> list[str]:
    if cpu and shutil.which("taskset") and (os.cpu_count() or 1) > int(cpu):
        return ["taskset", "-c", cpu]
    return []


# ------------------------------------------------------------------------------------------ database
def setup_db(url: str, users: int, first: int = 2000, record_every: int = 1) -> None:
    """Migrate a fresh database and create `users` accounts (2000..) on the 'Record everything' product;
    with record_every=N only the caller/callee pairs (2000+2k, 2001+2k) with k % N == 0 record, the others
    get 'No recording' (a realistic mix where not every call is recorded)."""
    code = f"""
import os
os.environ["CALLREC_DATABASE_URL"] = {url!r}
from flask_migrate import upgrade
from callrec.app import create_core_app  # database work only: the web UI would refuse the development key
from callrec.models import db, Account, Product, Customer, ensure_singletons
from callrec.demo import seed
app = create_core_app("bench")
with app.app_context():
    upgrade()
    ensure_singletons()
    seed()
    product = db.session.scalar(db.select(Product).where(Product.name == "Record everything"))
    norec = db.session.scalar(db.select(Product).where(Product.name == "No recording"))
    customer = db.session.scalar(db.select(Customer).where(Customer.name == "Acme Ltd"))
    for i in range({users}):
        db.session.add(Account(number=str({first} + i), name="bench %d" % i, email="b%d@example.test" % i,
                               product_id=(product if (i // 2) % {record_every} == 0 else norec).id,
                               customer_id=customer.id))
    db.session.commit()
"""
    env = dict(os.environ, CALLREC_DATABASE_URL=url)
    subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Workdir:
    """A temporary directory with the database, recordings dir and logs of one benchmark run."""

    def __init__(self, users: int, keep: str | None = None, record_every: int = 1):
        self.path = keep or tempfile.mkdtemp(prefix="callrec-bench-")
        os.makedirs(self.path, exist_ok=True)
        self.users = users
        self.record_every = record_every
        self.template_db = os.path.join(self.path, "template.db")
        if os.path.exists(self.template_db):
            os.remove(self.template_db)
        setup_db(f"sqlite:///{self.template_db}", users, record_every=record_every)

    def fresh_db(self, name: str) -> str:
        """A copy of the migrated, seeded database for one case (so cases do not see each other's rows)."""
        target = os.path.join(self.path, name + ".db")
        shutil.copy(self.template_db, target)
        return f"sqlite:///{target}"

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


# ------------------------------------------------------------------------------------------ processes
def start_switch(work: Workdir, name: str, *, source: str, calls: int, cps: float, hold: float,
                 synthetic: bool = False, settle: float = 30.0, extra=()) -> tuple[subprocess.Popen, int, str]:
    report = work.file(f"{name}.switch.json")
    cmd = taskset(SWITCH_CPU) + [PY, "-m", "bench.switch", "--source", source, "--calls", str(calls),
                                 "--cps", str(cps), "--hold", str(hold), "--users", str(work.users),
                                 "--settle", str(settle), "--report", report,
                                 "--record-every", str(work.record_every),
                                 "--recordings-dir", work.file(f"{name}.rec"), *extra]
    if synthetic:
        cmd.append("--synthetic-records")
    err = open(work.file(f"{name}.switch.log"), "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    line = proc.stdout.readline()
    proc.stdout.close()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"switch did not start: {line!r}; see {err.name}")
    return proc, int(line.split()[1]), report


def start_controller(work: Workdir, name: str, esl_port: int, metrics_port: int, log_level: str = "INFO",
                     env_extra: dict | None = None, profile: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(CALLREC_ESL_HOST="127.0.0.1", CALLREC_ESL_PORT=str(esl_port), CALLREC_ESL_PASSWORD="ClueCon",
               CALLREC_DATABASE_URL=work.fresh_db(name), CALLREC_RECORDINGS_DIR=work.file(f"{name}.rec"),
               CALLREC_METRICS_PORT=str(metrics_port), CALLREC_NODE_NAME="bench",
               CALLREC_LOG_LEVEL=log_level)
    env.update(env_extra or {})
    cmd = [PY]
    if profile:
        cmd += ["-m", "cProfile", "-o", profile]
    cmd += ["-m", "bench.patched" if env.get("CALLREC_BENCH_PATCHES") else "controller", "--no-delivery"]
    with open(work.file(f"{name}.controller.log"), "w") as log:
        return subprocess.Popen(taskset(CLIENT_CPU) + cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_baseline(work: Workdir, name: str, esl_port: int, expect: int) -> tuple[subprocess.Popen, str]:
    report = work.file(f"{name}.baseline.json")
    cmd = taskset(CLIENT_CPU) + [PY, "-m", "bench.baseline", "--port", str(esl_port), "--expect", str(expect),
                                 "--report", report]
    with open(work.file(f"{name}.baseline.log"), "w") as log:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), report


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def log_lines(path: str, *needles: str) -> dict[str, int]:
    counts = {n: 0 for n in needles}
    try:
        with open(path, errors="replace") as fh:
            for line in fh:
                for n in needles:
                    if n in line:
                        counts[n] += 1
    except OSError:
        pass
    return counts


def first_lines(path: str, needle: str, limit: int = 3) -> list[str]:
    out = []
    try:
        with open(path, errors="replace") as fh:
            for line in fh:
                if needle in line:
                    out.append(line.rstrip()[:300])
                    if len(out) >= limit:
                        break
    except OSError:
        pass
    return out


# ------------------------------------------------------------------------------------------ one case
def run_case(work: Workdir, name: str, *, client: str, source: str = "replay", calls: int, cps: float,
             hold: float = 2.0, settle: float = 30.0, sample_every: float = 0.5, log_level: str = "INFO",
             profile: str | None = None, env_extra: dict | None = None) -> dict:
    """Run one load against one client ('controller' or 'baseline'); return the figures."""
    synthetic = client == "baseline"
    sw, port, sw_report = start_switch(work, name, source=source, calls=calls, cps=cps, hold=hold,
                                       synthetic=synthetic, settle=settle)
    metrics_port = free_port() if client == "controller" else 0
    t_begin = time.time()
    if client == "controller":
        proc = start_controller(work, name, port, metrics_port, log_level, env_extra, profile)
        bl_report = None
    else:
        proc, bl_report = start_baseline(work, name, port, expect=0)
    sampler = ProcSampler(proc.pid, sample_every, metrics_port).start()
    try:
        sw.wait(timeout=calls / max(cps, 50) * 30 + 600)
    finally:
        if client == "controller":
            # let the handlers finish what was received, then read the final counters
            final = _wait_drained(metrics_port, timeout=settle)
        else:
            try:
                proc.wait(timeout=settle)
            except subprocess.TimeoutExpired:
                pass
            final = {}
        sampler.stop()
        stop(proc)
        if sw.poll() is None:
            sw.kill()
    with open(sw_report) as fh:
        srep = json.load(fh)
    if "t_load_end" not in srep:  # the switch gave up before the load ran: say why instead of a KeyError
        logs = [work.file(f"{name}.switch.log"), work.file(f"{name}.controller.log")]
        tails = "\n".join(f"--- {p}\n" + "".join(open(p, errors="replace").readlines()[-30:])
                           for p in logs if os.path.exists(p))
        raise RuntimeError(f"{name}: the load did not run (switch report {srep})\n{tails}")
    res = {"name": name, "client": client, "source": source, "calls": calls, "cps_offered": cps, "hold_s": hold,
           "events_sent": srep.get("events_sent"), "events_per_call": srep.get("events_per_call"),
           "event_bytes_avg": srep.get("event_bytes_avg"),
           "switch_send_blocked_s": srep.get("send_blocked_s"), "switch_lag_max_s": srep.get("sender_lag_max_s"),
           "load_seconds": round(srep["t_load_end"] - srep["t_load_start"], 2)}
    t_load0 = srep["t_load_start"]
    if client == "controller":
        ev_samples = [s for s in sampler.samples if s.get("events") is not None]
        total = final.get("events") or (ev_samples[-1]["events"] if ev_samples else 0)
        done = next((s["wall"] for s in ev_samples if s["events"] >= total), None) if total else None
        res["events_handled"] = total
        res["uuid_record_expected"] = srep.get("uuid_record_expected")
        res["uuid_record_received"] = srep.get("uuid_record_received")
        res["legs_without_uuid_record"] = srep.get("missing_legs")
        for k in ("switch_queue_peak_events", "events_lost", "listener_killed"):
            res[k] = srep.get(k)
        res["latency_incl_switch_queue"] = latency_summary(srep.get("latencies_offered_s", []))
        res["commands_by_kind"] = srep.get("commands_by_kind")
        res["latency_all"] = latency_summary(srep.get("latencies_s", []))
        res["latency_a_leg"] = latency_summary(srep.get("latencies_a_s", []))
        if "triggers" in srep:
            res["latency_triggers"] = srep["triggers"]
        res["max_queue_depth"] = max((s.get("queue_depth") or 0 for s in ev_samples), default=None)
        res["max_db_pending"] = max((s.get("db_pending") or 0 for s in ev_samples), default=None)
        res["metrics_final"] = {k: v for k, v in final.get("raw", {}).items()
                                if k.startswith(("callrec_event_queue", "callrec_recordings", "callrec_db",
                                                 "callrec_esl"))}
        log = work.file(f"{name}.controller.log")
        res["log_counts"] = log_lines(log, "overload", "ERROR", "Traceback", "gone before",
                                      "cannot start recording", "event queue full", "back below",
                                      "late reply", "lost FreeSWITCH", "connected to FreeSWITCH")
        res["log_overload"] = first_lines(log, "overload", 4)
        res["log_errors"] = first_lines(log, "ERROR", 4)
    else:
        with open(bl_report) as fh:
            brep = json.load(fh)
        total = brep["events"]
        last_rel = brep.get("first_rel_s", 0) + brep.get("span_s", 0)
        done = t_begin + last_rel if brep.get("first_rel_s") is not None else None
        res["events_handled"] = total
        res["baseline_handler_only_events_per_s"] = brep.get("events_per_s")
    span = (done - t_load0) if done else None
    res["busy_seconds"] = round(span, 2) if span else None
    res["events_per_s"] = round(total / span, 1) if span and span > 0 else None
    epc = res["events_per_call"] or 10
    res["calls_per_s"] = round(res["events_per_s"] / epc, 1) if res["events_per_s"] else None
    t0 = t_load0 - sampler.t0_wall if hasattr(sampler, "t0_wall") else None
    w0 = min((s["t"] for s in sampler.samples if s["wall"] >= t_load0), default=0)
    w1 = max((s["t"] for s in sampler.samples if done is None or s["wall"] <= done + sample_every), default=0)
    res["cpu_percent"] = sampler.cpu_percent(w0, w1)
    res["peak_rss_mb"] = sampler.peak_rss_mb()
    res["rss_series_mb"] = sampler.rss_series_mb(every=max(1.0, (w1 - w0) / 20 if w1 > w0 else 1.0))
    res["_samples"] = sampler.samples
    del t0
    return res


def _wait_drained(port: int, timeout: float) -> dict:
    """Poll /metrics until the event count stops moving and the queue and the db writes are empty."""
    deadline = time.monotonic() + timeout
    last, stable = None, 0
    m = {}
    while time.monotonic() < deadline:
        m = scrape(port, timeout=2)
        if not m:
            time.sleep(0.5)
            continue
        events = sum(v for k, v in m.items() if k.startswith("callrec_events_total"))
        idle = not m.get("callrec_event_queue_depth") and not m.get("callrec_db_pending_writes")
        if events == last and idle:
            stable += 1
            if stable >= 2:
                break
        else:
            stable = 0
        last = events
        time.sleep(0.5)
    events = sum(v for k, v in m.items() if k.startswith("callrec_events_total"))
    return {"events": int(events), "raw": m}


# ------------------------------------------------------------------------------------------ environment
def environment() -> dict:
    def ver(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "")
    except OSError:
        pass
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(), "gevent": ver("gevent"),
            "greenlet": ver("greenlet"), "greenswitch": ver("greenswitch"), "sqlalchemy": ver("SQLAlchemy"),
            "prometheus_client": ver("prometheus_client"),
            "taskset": bool(taskset(CLIENT_CPU))}


def publish(result: dict, report, json_path: str | None) -> int:
    """Stamp the machine and versions on a result, print its report, write it as JSON if asked; exit status."""
    result["environment"] = environment()
    print(report(result))
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(result, fh, indent=1, default=str)
    return 0
