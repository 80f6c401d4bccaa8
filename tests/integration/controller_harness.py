"""Run the real controller (gevent, in the pytest main thread) against the FreeSWITCH emulator over TCP.

The emulator uses OS threads and blocking sockets; its blocking waits (`wait_for_command`, ...) would block
the gevent hub the controller runs on, so the harness runs them in the hub's thread pool (`h.off_hub`).
Waits are conditions with timeouts, never sleeps used as synchronisation.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import gevent
from sqlalchemy import select

from callrec.config import load_config
from callrec.models import Account, Customer, CustomerClass, DialingRule, Product, Recording, Settings, db
from controller.builder import build_controller
from tests.fakeswitch import FakeSwitch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOUNDS_DIR = PROJECT_ROOT / "sounds"
_names = itertools.count(1)

FLAGS = ("enabled", "auto_record_outgoing", "auto_record_incoming", "auto_record_redirected", "manual_control",
         "announcement", "email_delivery")


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    """Wait (yielding to the controller's greenlets) until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        # Not a fixed wait: a re-check of the condition under a deadline. The controller runs as greenlets in
        # this thread, so the test must yield to the hub for it to make progress.
        gevent.sleep(0.01)


class Harness:
    def __init__(self, app, **config_overrides):
        self.app = app
        self.recordings_dir = app.config["RECORDINGS_DIR"]
        self.fs = FakeSwitch(password="ClueCon", recordings_dir=self.recordings_dir,
                             sounds_dir=str(SOUNDS_DIR)).start()
        overrides = {
            "CALLREC_ESL_HOST": "127.0.0.1",
            "CALLREC_ESL_PORT": self.fs.port,
            "CALLREC_ESL_PASSWORD": "ClueCon",
            "CALLREC_RECORDINGS_DIR": self.recordings_dir,
            "CALLREC_SOUNDS_DIR": str(SOUNDS_DIR),
            "CALLREC_METRICS_PORT": 0,
            "CALLREC_POLICY_REFRESH_SECONDS": 0.05,
            "CALLREC_STATUS_SECONDS": 0.2,
            "CALLREC_ESL_COMMAND_TIMEOUT": 2.0,
            "CALLREC_ESL_AUTH_TIMEOUT": 1.0,
            "CALLREC_ESL_BACKOFF_MAX": 0.2,
            "CALLREC_NODE_NAME": "test-node",
        }
        overrides.update(config_overrides)
        self.config = load_config(environ={}, overrides=overrides)
        self.controller = None
        with app.app_context():
            settings = db.session.get(Settings, 1)
            settings.records_delivery_enabled = True
            db.session.commit()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self, wait: bool = True):
        self.controller = build_controller(self.config, app=self.app, run_delivery=False, backoff_initial=0.05)
        self.controller.start()
        if wait:
            self.wait_connected()
        return self.controller

    def wait_connected(self, timeout: float = 5.0):
        assert self.controller.esl.connected_event.wait(timeout), "controller did not connect"
        self.off_hub(self.fs.wait_for_subscriber, timeout=timeout)

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
        self.fs.stop()

    def off_hub(self, fn, *args, **kw):
        """Run a blocking emulator call in a thread so the controller keeps running meanwhile."""
        return gevent.get_hub().threadpool.apply(fn, args, kw)

    # -- emulator waits -------------------------------------------------------------------------------
    def wait_command(self, pattern: str, timeout: float = 5.0, since: int = 0):
        return self.off_hub(self.fs.wait_for_command, pattern, timeout=timeout, since=since)

    def commands(self, pattern: str):
        return self.fs.commands_matching(pattern)

    def settle(self, timeout: float = 5.0):
        """Wait until the controller handled everything sent so far and wrote it to the database."""
        c = self.controller
        # A HEARTBEAT is a marker: once the controller handled it, everything before it was handled too.
        before = c.metrics.event_counts.get("HEARTBEAT", 0)
        self.fs.heartbeat()
        wait_for(lambda: c.metrics.event_counts.get("HEARTBEAT", 0) > before, timeout, "the controller")
        wait_for(lambda: c.sender.idle(), timeout, "commands in flight")
        wait_for(lambda: c.writes.idle.is_set() and not c.writes.jobs, timeout, "database writes")

    # -- data -----------------------------------------------------------------------------------------
    def account(self, number: str, email: str | None = None, codes: tuple[str, ...] | None = None,
                notify: bool = True, **flags) -> int:
        """Create an account with its own (override) configuration; flags default to off."""
        n = next(_names)
        with self.app.app_context():
            cls = CustomerClass(name=f"class-{n}", notify_new_call_recording=notify)
            db.session.add(cls)
            db.session.flush()
            customer = Customer(name=f"customer-{n}", customer_class_id=cls.id)
            product = Product(name=f"product-{n}")
            db.session.add_all([customer, product])
            db.session.flush()
            rule_id = None
            if codes:
                rule = DialingRule(name=f"rule-{n}", record_start_code=codes[0], record_stop_code=codes[1],
                                   record_pause_code=codes[2] if len(codes) > 2 else "",
                                   record_resume_code=codes[3] if len(codes) > 3 else "")
                db.session.add(rule)
                db.session.flush()
                rule_id = rule.id
            values = {flag: bool(flags.get(flag, False)) for flag in FLAGS}
            acc = Account(number=number, name=f"User {number}", email=email if email is not None
                          else f"u{number}@example.test", customer_id=customer.id, product_id=product.id,
                          override=True, dialing_rule_id=rule_id, **values)
            db.session.add(acc)
            db.session.commit()
            return acc.id

    def recordings(self, **filters) -> list[Recording]:
        with self.app.app_context():
            query = select(Recording).order_by(Recording.id)
            for key, value in filters.items():
                query = query.where(getattr(Recording, key) == value)
            rows = list(db.session.scalars(query).unique())
            for row in rows:
                _ = row.delivery  # load while the session is open
            db.session.expunge_all()
            return rows

    def wait_recordings(self, count: int, timeout: float = 5.0, **filters) -> list[Recording]:
        return wait_for(lambda: (lambda rows: rows if len(rows) >= count else None)(self.recordings(**filters)),
                        timeout, f"{count} recording row(s) {filters}")

    def wait_finalised(self, count: int = 1, timeout: float = 5.0, **filters) -> list[Recording]:
        def done():
            rows = [r for r in self.recordings(**filters) if r.status != "recording"]
            return rows if len(rows) >= count else None
        return wait_for(done, timeout, f"{count} finalised recording(s) {filters}")


ALL_ON = dict(enabled=True, auto_record_outgoing=True, auto_record_incoming=True, auto_record_redirected=True,
              manual_control=True, announcement=False, email_delivery=True)


def make_harness(app, **overrides):
    """Build a harness; the caller starts and stops it (see the `harness` fixtures in the test modules)."""
    return Harness(app, **overrides)
