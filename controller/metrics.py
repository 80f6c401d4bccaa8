"""Prometheus metrics and the /metrics + /healthz endpoint (gevent WSGI server, off the event path)."""
from __future__ import annotations

import json
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)


class _EventCollector:
    """Events by type and the queue depth, kept as plain ints (a Counter per event would cost a lock each)."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self):
        family = CounterMetricFamily("callrec_events", "Event Socket events handled, by type", labels=["event"])
        for name, count in sorted(self.metrics.event_counts.items()):
            family.add_metric([name], count)
        yield family
        yield GaugeMetricFamily("callrec_event_queue_depth", "Events waiting for the handlers",
                                value=self.metrics.queue_depth)
        yield GaugeMetricFamily("callrec_event_queue_bytes", "Bytes of the events waiting (compact under overload)",
                                value=self.metrics.queue_bytes)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.event_counts: dict[str, int] = {}
        self.queue_depth = 0
        self.queue_bytes = 0
        self.registry.register(_EventCollector(self))
        r = self.registry
        self.recordings_started = Counter("callrec_recordings_started", "Recordings started, by trigger",
                                          ["trigger"], registry=r)
        self.recordings_failed = Counter("callrec_recordings_failed", "uuid_record commands that failed",
                                         registry=r)
        self.recordings_finalised = Counter("callrec_recordings_finalised", "Recordings finalised, by status",
                                            ["status"], registry=r)
        self.handler_errors = Counter("callrec_handler_errors", "Event handlers (by event) and decisions (by "
                                      "type) that raised", ["event"], registry=r)
        self.esl_connected = Gauge("callrec_esl_connected", "1 while connected to FreeSWITCH", registry=r)
        self.reconnects = Counter("callrec_esl_reconnects", "Reconnections to FreeSWITCH", registry=r)
        self.queue_overloads = Counter("callrec_event_queue_overloads",
                                       "Overload episodes: the event queue went over its budget", registry=r)
        self.events_shed = Counter("callrec_events_shed", "Events shed under overload (only events that cannot "
                                   "change a decision: HEARTBEAT, unhandled ones)", ["event"], registry=r)
        self.db_dropped = Counter("callrec_db_writes_dropped", "Database writes refused because the write queue "
                                  "was over its limit (each one logged at ERROR)", registry=r)
        self.db_pending = Gauge("callrec_db_pending_writes", "Database writes waiting (e.g. during an outage)",
                                registry=r)
        self.db_up = Gauge("callrec_database_up", "1 while the database answers", registry=r)
        self.policy_revision = Gauge("callrec_policy_revision", "PolicyRevision of the cached policies",
                                     registry=r)

    def count_event(self, name: str, depth: int, queued_bytes: int = 0) -> None:
        counts = self.event_counts
        counts[name] = counts.get(name, 0) + 1
        self.queue_depth = depth
        self.queue_bytes = queued_bytes


def make_app(metrics: Metrics, health):
    """WSGI app: /metrics (Prometheus text format) and /healthz (JSON, 200 when healthy else 503)."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            ok, detail = health()
            body = json.dumps(detail).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == "/metrics":
            return prometheus(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app
