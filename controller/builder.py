"""`build_controller(config)`: the only place where the controller's parts are wired together."""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from datetime import datetime, timezone

import gevent
import gevent.event

from callrec import retention
from callrec.app import create_core_app

from .control import LivePublisher, RemoteControl
from .decisions import RenderContext
from .esl import EslClient
from .metrics import Metrics, make_app
from .policies import PolicyCache
from .recorder import CallRecording, CommandSender, Conferences, ManualControl, PhoneRecordKey
from .resync import Resync
from .store import DB_DOWN_ERRORS, Store, WriteQueue
from .tracker import Tracker

logger = logging.getLogger(__name__)

# Only what the decisions need (greenswitch-style `event plain` list; CUSTOM subclasses would follow CUSTOM).
# CHANNEL_CREATE: only for what a leg carried at creation (a caller's own Diversion header, see decisions.py
# diversion_from_dialplan).
SUBSCRIBED_EVENTS = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
                     "CHANNEL_HANGUP_COMPLETE", "DTMF", "RECORD_START", "RECORD_STOP", "HEARTBEAT", "CUSTOM",
                     "conference::maintenance"]


class Controller:
    """The running controller: Event Socket client, handlers, caches, writers, status and metrics."""

    def __init__(self, *, config: dict, app, esl: EslClient, tracker: Tracker, store: Store,
                 policies: PolicyCache, writes: WriteQueue, sender: CommandSender, calls: CallRecording,
                 manual: ManualControl, phone_key: PhoneRecordKey, conferences: Conferences, resync: Resync,
                 metrics: Metrics, node: str, status_seconds: float, run_delivery: bool,
                 remote: RemoteControl | None = None, live: LivePublisher | None = None):
        self.config, self.app = config, app
        self.esl, self.tracker, self.store = esl, tracker, store
        self.policies, self.writes, self.sender = policies, writes, sender
        self.calls, self.manual, self.phone_key, self.resync = calls, manual, phone_key, resync
        self.conferences = conferences
        self.metrics, self.node, self.status_seconds = metrics, node, status_seconds
        self.run_delivery = run_delivery
        self.remote, self.live = remote, live  # call control through the database (issue 12)
        self._greenlets: list[gevent.Greenlet] = []
        self._http = None
        self._maintenance_stop = threading.Event()
        self._maintenance_threads: list[threading.Thread] = []
        self.stopped = gevent.event.Event()
        self.subscribe()

    def subscribe(self) -> None:
        """Every event handler of every concern, registered in one place."""
        on = self.esl.register_handle
        on("CHANNEL_CREATE", self.calls.on_channel_create)
        on("CHANNEL_ANSWER", self.calls.on_channel_answer)
        on("CHANNEL_BRIDGE", self.calls.on_channel_bridge)
        on("CHANNEL_UNBRIDGE", self.calls.on_channel_unbridge)
        on("CHANNEL_HANGUP_COMPLETE", self.calls.on_channel_hangup_complete)
        on("DTMF", self.manual.on_dtmf)
        on("RECORD_START", self.phone_key.on_record_start)
        on("RECORD_STOP", self.phone_key.on_record_stop)
        on("HEARTBEAT", self.on_heartbeat)
        on("conference::maintenance", self.conferences.on_conference_maintenance)
        self.esl.on_connected.append(self.resync)

    def on_heartbeat(self, event) -> None:
        self.tracker.prune(time.monotonic())

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.policies.refresh()  # best effort: an outage here is logged, the poller keeps trying
        self.writes.start()
        self.policies.start()
        self.esl.start()
        self._greenlets.append(gevent.spawn(self._status_loop))
        for part in (self.remote, self.live):
            if part is not None:
                part.start()
        port = self.config.get("CALLREC_METRICS_PORT", 0)
        if port:
            from gevent.pywsgi import WSGIServer

            host = self.config.get("CALLREC_METRICS_HOST", "127.0.0.1")
            self._http = WSGIServer((host, port), make_app(self.metrics, self.health), log=None,
                                    error_log=logger)
            try:
                self._http.start()
                logger.info("metrics on http://%s:%s/metrics and /healthz", host, self._http.server_port)
            except OSError as exc:
                logger.error("cannot serve metrics on %s:%s: %s", host, port, exc)
                self._http = None
        if self.run_delivery:
            self._start_delivery()
            self._start_thread("callrec-retention", retention.serve, self.app, self._maintenance_stop,
                               float(self.config.get("CALLREC_RETENTION_INTERVAL", 3600)))

    def _start_delivery(self) -> None:
        try:
            from callrec.delivery.worker import DeliveryWorker
        except ImportError as exc:  # pragma: no cover - the worker ships with callrec
            logger.warning("delivery worker unavailable (%s): recordings are queued, not mailed", exc)
            return
        worker = DeliveryWorker(self.app, f"controller@{self.node}")
        interval = float(self.config.get("CALLREC_DELIVERY_INTERVAL", 30))
        self._start_thread("callrec-delivery", worker.serve, self._maintenance_stop, interval)

    def _start_thread(self, name: str, target, *args) -> None:
        # smtplib, the database and file work block: maintenance jobs get OS threads, off the event path
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._maintenance_threads.append(thread)

    def stop(self) -> None:
        self.esl.stop()
        for greenlet in self._greenlets:
            greenlet.kill(block=True, timeout=2)
        for part in (self.remote, self.live):
            if part is not None:
                part.stop()
        self.policies.stop()
        # let pending database writes (finalisations) finish, but never hang on a dead database
        self.writes.idle.wait(timeout=5)
        self.writes.stop()
        if self._http is not None:
            self._http.stop(timeout=1)
        self._maintenance_stop.set()
        for thread in self._maintenance_threads:
            thread.join(timeout=10)
        self._write_status(connected=False)
        self.store.close()
        self.stopped.set()

    def run_forever(self) -> None:
        self.start()
        self.stopped.wait()

    # -- status -----------------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict]:
        detail = {
            "esl_connected": self.esl.connected,
            "database": self.policies.db_ok and self.writes.db_ok,
            "policy_revision": self.policies.revision,
            "event_queue_depth": self.metrics.queue_depth,
            "pending_db_writes": len(self.writes.jobs),
            "live_legs": len(self.tracker.legs),
        }
        return bool(self.esl.connected), detail

    def _status_loop(self) -> None:
        while True:
            gevent.sleep(self.status_seconds)
            self.metrics.db_up.set(1 if self.policies.db_ok and self.writes.db_ok else 0)
            self.metrics.policy_revision.set(self.policies.revision)
            self._write_status(connected=self.esl.connected)

    def _write_status(self, connected: bool) -> None:
        last = self.esl.last_event_at
        when = datetime.fromtimestamp(last, timezone.utc) if last else None
        detail = "" if connected else "waiting for FreeSWITCH at %s:%s" % (self.esl.host, self.esl.port)
        try:
            self.store.call(Store.heartbeat, self.node, connected, self.esl.core_uuid, when, detail)
        except DB_DOWN_ERRORS as exc:
            logger.debug("heartbeat not written (database unavailable: %s)", exc)
        except Exception:  # noqa: BLE001 - the heartbeat is best effort
            logger.exception("heartbeat not written")


def build_controller(config: dict, app=None, *, run_delivery: bool = True,
                     backoff_initial: float = 0.5) -> Controller:
    """Wire a controller from a `load_config()` dict (tests pass their app and shorter timings)."""
    if app is None:
        app = create_core_app("controller")
    # The database (and delivery) threads share the GIL with the event loop: by default a CPU-bound thread keeps
    # it up to 5 ms before the loop gets it back, i.e. 5 ms on an event's way to its uuid_record. 1 ms at most.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    metrics = Metrics()
    esl = EslClient(
        config["CALLREC_ESL_HOST"], int(config["CALLREC_ESL_PORT"]), config["CALLREC_ESL_PASSWORD"],
        events=SUBSCRIBED_EVENTS, queue_size=int(config.get("CALLREC_EVENT_QUEUE_SIZE", 20000)),
        queue_bytes=int(config.get("CALLREC_EVENT_QUEUE_BYTES", 32 << 20)),
        queue_max_bytes=int(config.get("CALLREC_EVENT_QUEUE_MAX_BYTES", 128 << 20)),
        command_timeout=float(config.get("CALLREC_ESL_COMMAND_TIMEOUT", 5)),
        auth_timeout=float(config.get("CALLREC_ESL_AUTH_TIMEOUT", 5)),
        backoff_initial=backoff_initial, backoff_max=float(config.get("CALLREC_ESL_BACKOFF_MAX", 30)),
        metrics=metrics)
    store = Store(app)
    tracker = Tracker()
    policies = PolicyCache(store, float(config.get("CALLREC_POLICY_REFRESH_SECONDS", 2)))
    writes = WriteQueue(store, metrics=metrics)
    recordings_dir = config["CALLREC_RECORDINGS_DIR"]
    render = RenderContext(sounds_dir=config["CALLREC_SOUNDS_DIR"],
                           limit_seconds=int(config.get("CALLREC_RECORD_LIMIT_SECONDS", 0)))
    sender = CommandSender(esl, tracker, policies, writes, render, recordings_dir, metrics,
                           call_log=bool(config.get("CALLREC_CALL_LOG", True)))
    calls = CallRecording(tracker, policies, sender, recordings_dir, esl=esl)
    manual = ManualControl(tracker, policies, sender, recordings_dir)
    phone_key = PhoneRecordKey(tracker, policies, sender, recordings_dir, esl=esl)
    conferences = Conferences(tracker, policies, sender, recordings_dir)
    resync = Resync(esl, tracker, store, sender, calls)
    node = config.get("CALLREC_NODE_NAME") or socket.gethostname()
    remote = RemoteControl(store, tracker, policies, sender, writes, recordings_dir,
                           float(config.get("CALLREC_CONTROL_POLL_SECONDS", 0.25)))
    live = LivePublisher(tracker, policies, writes, node)
    return Controller(config=config, app=app, esl=esl, tracker=tracker, store=store, policies=policies,
                      writes=writes, sender=sender, calls=calls, manual=manual, phone_key=phone_key,
                      conferences=conferences, resync=resync,
                      metrics=metrics, node=node, status_seconds=float(config.get("CALLREC_STATUS_SECONDS", 5)),
                      run_delivery=run_delivery, remote=remote, live=live)
