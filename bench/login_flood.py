"""Login flood against the real web UI: gunicorn with 2 workers, the throttle's counts in the database.

Measures what an admin sees while clients flood /login with wrong passwords: the dashboard's latency idle and
under the flood (p50/p95), the flood's requests/s and answers, and how many failures one address gets before
the lock when its attempts land on both workers (the throttle's pair limit, 5, if the workers share the
counts; up to 10 if each counted on its own). Behind CALLREC_TRUSTED_PROXIES=1 every flooding client has its
own X-Forwarded-For address. Prints figures; asserts nothing.

    .venv/bin/python -m bench.login_flood [--clients 8] [--seconds 10] [--database-url URL]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from .harness import free_port
from .measure import percentile

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _session(base: str, address: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address
    token = CSRF.search(session.get(f"{base}/login", timeout=10).text).group(1)
    return session, token


def _login(session: requests.Session, token: str, base: str, name: str, password: str) -> int:
    return session.post(f"{base}/login", data={"csrf_token": token, "username": name, "password": password},
                        allow_redirects=False, timeout=30).status_code


def _latencies(session: requests.Session, url: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        assert session.get(url, timeout=30, allow_redirects=False).status_code == 200
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.login_flood", description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--samples", type=int, default=100, help="dashboard requests per latency measurement")
    ap.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="callrec-login-flood-"))
    env = {**os.environ, "CALLREC_DATABASE_URL": args.database_url or f"sqlite:///{work / 'callrec.db'}",
           "CALLREC_SECRET_KEY": secrets.token_urlsafe(32), "CALLREC_TRUSTED_PROXIES": "1",
           "CALLREC_RECORDINGS_DIR": str(work / "recordings")}
    flask = [sys.executable, "-m", "flask", "--app", "webui"]
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    out = subprocess.run([*flask, "create-admin", "admin", "--generate"], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    password = out.split("One-time password for admin: ")[1].split()[0]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "gunicorn.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "webui:create_app()"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log)
    sessions: list[requests.Session] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/login", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # the server is starting: nothing to wait on but the port
        admin, token = _session(base, "198.51.100.1")
        sessions.append(admin)
        assert _login(admin, token, base, "admin", password) == 302
        idle = _latencies(admin, f"{base}/", args.samples)

        # One address, one name, attempts spread over both workers: failures before the lock.
        probe, probe_token = _session(base, "192.0.2.200")
        sessions.append(probe)
        statuses = []
        for _ in range(12):
            probe.close()  # a new connection each time: gunicorn hands it to either worker
            statuses.append(_login(probe, probe_token, base, "admin", "wrong"))
        before_lock = statuses.index(429) if 429 in statuses else None

        stop = threading.Event()
        answers: Counter = Counter()
        lock = threading.Lock()

        def flood(n: int) -> None:
            session, csrf = _session(base, f"203.0.113.{n + 1}")
            sessions.append(session)
            i = 0
            while not stop.is_set():
                code = _login(session, csrf, base, f"user{i % 50}", "wrong")
                i += 1
                with lock:
                    answers[code] += 1

        threads = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(args.clients)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        loaded = _latencies(admin, f"{base}/", args.samples)
        remaining = args.seconds - (time.monotonic() - start)
        if remaining > 0:
            stop.wait(remaining)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        for session in sessions:
            session.close()
        server.terminate()
        server.wait(timeout=15)
        log.close()
    total = sum(answers.values())
    print("# login flood (gunicorn, 2 workers, throttle counts in the database, 1 trusted proxy)")
    print(f"database: {'SQLite' if not args.database_url else args.database_url.split(':')[0]}; "
          f"{args.clients} flooding clients for {elapsed:.1f} s")
    print(f"dashboard latency idle:        p50 {percentile(idle, 50):.1f} ms, p95 {percentile(idle, 95):.1f} ms")
    print(f"dashboard latency under flood: p50 {percentile(loaded, 50):.1f} ms, p95 {percentile(loaded, 95):.1f} ms")
    print(f"flood: {total} login POSTs, {total / elapsed:.0f}/s; answers "
          + ", ".join(f"{code}: {n}" for code, n in sorted(answers.items())))
    print(f"one address, one name, over both workers: {before_lock} failures before the lock (limit 5); "
          f"statuses {statuses}")
    print(f"(work files in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
