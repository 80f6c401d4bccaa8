"""The delivery worker: claims due outbox rows, mails them, records the outcome (docs/delivery.md).

The controller runs `serve(stop_event, interval)` in a greenlet or thread; cron users run
`flask --app webui deliver`, which calls `run_once()`.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from flask_mail import BadHeaderError

from ..models import Delivery, db, get_settings, utcnow
from ..recordings import safe_recording_path
from . import claim as outbox
from .links import download_url, make_token
from .message import CallFacts, DownloadLink, build_message, link_expiry, message_id_for, zone
from .retry import SendFailure, classify, retry_delay
from .smtp import SmtpSession, _setting

logger = logging.getLogger(__name__)


class WorkerStopped(Exception):
    """The lease was taken over by another worker while this one was sending."""


@dataclass
class RunSummary:
    """What one run did; `str()` is the `deliver` command's output."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed

    def __str__(self) -> str:
        text = (f"{self.sent} sent, {self.retried} to retry, {self.failed} failed"
                f" ({self.attempted} attempted)")
        if self.recovered or self.interrupted:
            text += (f"; {self.recovered} interrupted sends retried, {self.interrupted} interrupted sends "
                     "marked failed (may have been delivered)")
        return text


@dataclass(frozen=True)
class _Prepared:
    message: object | None       # flask_mail.Message
    problem: str | None = None   # a permanent reason not to send


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class DeliveryWorker:
    """Delivers pending outbox rows; safe to run in several processes against one database."""

    def __init__(self, app: Flask, owner: str | None = None, *, clock: Callable[[], datetime] = utcnow):
        self.app = app
        self.owner = (owner or default_owner())[:100]
        self.clock = clock  # tests drive time through this; leases and retries use it, never sleep
        self.lease = timedelta(seconds=int(_setting(app, "CALLREC_DELIVERY_LEASE_SECONDS", 600)))
        self.retry_base = int(_setting(app, "CALLREC_DELIVERY_RETRY_SECONDS", 60))
        self.link_max_age_days = int(_setting(app, "CALLREC_LINK_MAX_AGE_DAYS", 7))

    # -- running -------------------------------------------------------------------------------------

    def serve(self, stop_event, interval: float | None = None) -> None:
        """Run until `stop_event` (threading.Event or gevent.event.Event) is set; a send in progress finishes."""
        if interval is None:
            interval = float(_setting(self.app, "CALLREC_DELIVERY_INTERVAL", 30))
        logger.info("delivery worker %s started (every %ss)", self.owner, interval)
        while not stop_event.is_set():
            try:
                summary = self.run_once(stop_event=stop_event)
                if summary.attempted or summary.recovered or summary.interrupted:
                    logger.info("delivery run: %s", summary)
            except Exception:  # the loop must outlive one bad run (database away, a bug): log, go on
                # Rows keep their state and leases; an interrupted send is recovered by the next run.
                logger.exception("delivery run failed; retrying in %ss", interval)
            stop_event.wait(interval)
        logger.info("delivery worker %s stopped", self.owner)

    def run_once(self, limit: int = 100, stop_event=None) -> RunSummary:
        """Recover interrupted sends, then deliver up to `limit` due deliveries; return what happened."""
        summary = RunSummary()
        with self.app.app_context():
            max_attempts = self._max_attempts()
            with outbox.write_transaction(db.engine) as conn:
                for item in outbox.recover_expired(conn, now=self.clock(), max_attempts=max_attempts):
                    if item.retried:
                        summary.recovered += 1
                    else:
                        summary.interrupted += 1
                    logger.warning("delivery %s was interrupted (%s)", item.delivery_id,
                                   "retrying" if item.retried else "not resent: it may have been delivered")
            with SmtpSession(self.app) as smtp:
                while summary.attempted < limit and not (stop_event is not None and stop_event.is_set()):
                    taken = self._claim()
                    if taken is None:
                        break
                    self._deliver(taken, smtp, summary, max_attempts)
                    if smtp.unreachable:
                        break  # SMTP server down or refusing us: the other rows wait, untouched, for the next run
        return summary

    # -- one delivery ---------------------------------------------------------------------------------

    def _max_attempts(self) -> int:
        try:
            return max(int(get_settings().max_delivery_attempts), 1)
        finally:
            db.session.remove()

    def _claim(self) -> outbox.Claim | None:
        now = self.clock()
        token = f"{self.owner}#{secrets.token_hex(4)}"
        sender = self._sender()
        with outbox.write_transaction(db.engine) as conn:
            return outbox.claim_next(conn, token=token, now=now, lease_until=now + self.lease,
                                     new_message_id=lambda delivery_id: message_id_for(delivery_id, sender))

    def _sender(self) -> str:
        try:
            return get_settings().mail_sender or self.app.config.get("MAIL_DEFAULT_SENDER") or "callrec@localhost"
        finally:
            db.session.remove()

    def _prepare(self, taken: outbox.Claim) -> _Prepared:
        """Build the message from the rows and the file (a missing file is a permanent problem)."""
        try:
            delivery = db.session.get(Delivery, taken.delivery_id)
            if delivery is None:
                return _Prepared(None, "the recording was deleted")
            if not delivery.recipient:
                return _Prepared(None, "the delivery has no recipient")
            recording = delivery.recording
            settings = get_settings()
            tz = zone(settings.time_zone)
            path = safe_recording_path(recording, self.app.config["RECORDINGS_DIR"])
            if path is None:
                return _Prepared(None, f"the recording file is missing ({recording.file_path})")
            facts = CallFacts(recording.caller, recording.callee, recording.direction, recording.started_at,
                              recording.duration_seconds)
            size = Path(path).stat().st_size
            audio, link = None, None
            if size > settings.attachment_max_bytes:
                token = make_token(self.app.config["SECRET_KEY"], recording.id, recording.sha256)
                public_url = _setting(self.app, "PUBLIC_URL") or _setting(self.app, "CALLREC_PUBLIC_URL", "")
                link = DownloadLink(download_url(public_url, token), link_expiry(self.clock(), self.link_max_age_days))
            else:
                audio = Path(path).read_bytes()
            sender = settings.mail_sender or self.app.config.get("MAIL_DEFAULT_SENDER") or "callrec@localhost"
            message = build_message(facts=facts, tz=tz, sender=sender, recipient=delivery.recipient,
                                    message_id=taken.message_id, audio=audio, link=link)
            return _Prepared(message)
        finally:
            db.session.remove()

    def _deliver(self, taken: outbox.Claim, smtp: SmtpSession, summary: RunSummary, max_attempts: int) -> None:
        prepared = self._prepare(taken)
        if prepared.problem is not None:
            self._record(taken, SendFailure(True, prepared.problem), summary, max_attempts)
            return
        try:
            smtp.send(prepared.message, before_data=lambda: self._mark_handed_over(taken))
        except WorkerStopped:
            logger.warning("delivery %s: lease lost before sending; left to its new owner", taken.delivery_id)
            return
        except (OSError, BadHeaderError, UnicodeError) as exc:  # smtplib's errors are OSErrors
            self._record(taken, classify(exc), summary, max_attempts)
            return
        self._mark_sent(taken, summary)

    def _mark_handed_over(self, taken: outbox.Claim) -> None:
        with outbox.write_transaction(db.engine) as conn:
            if not outbox.mark_handed_over(conn, taken):
                raise WorkerStopped(taken.delivery_id)

    def _mark_sent(self, taken: outbox.Claim, summary: RunSummary) -> None:
        now = self.clock()
        with outbox.write_transaction(db.engine) as conn:
            done = outbox.finish(conn, taken, outcome="sent", error="", values=dict(
                status="sent", sent_at=now, reason="", last_error="", next_attempt_at=None))
        if not done:
            logger.warning("delivery %s was sent but its lease had expired; status left to the recovery",
                           taken.delivery_id)
        summary.sent += 1

    def _record(self, taken: outbox.Claim, failure: SendFailure, summary: RunSummary, max_attempts: int) -> None:
        now = self.clock()
        if failure.permanent:
            outcome, values = "failed", dict(status="failed", reason="refused", next_attempt_at=None)
        elif taken.attempt >= max_attempts:
            outcome, values = "failed", dict(status="failed", reason="attempts exhausted", next_attempt_at=None)
        else:
            outcome = "retry"
            values = dict(status="pending", next_attempt_at=now + retry_delay(taken.attempt, self.retry_base))
        with outbox.write_transaction(db.engine) as conn:
            outbox.finish(conn, taken, outcome=outcome, error=failure.error,
                          values=dict(values, last_error=failure.error))
        logger.info("delivery %s attempt %s: %s (%s)", taken.delivery_id, taken.attempt, outcome, failure.error)
        if outcome == "retry":
            summary.retried += 1
        else:
            summary.failed += 1
            summary.errors.append(f"delivery {taken.delivery_id}: {failure.error}")
