"""Retention: recordings older than Settings.retention_days are deleted, row and file (0 keeps them forever); so
are call-log entries (issue 12).

The audit trail has its own period (Settings.audit_retention_days) and is never purged before the recordings
it mentions (callrec.audit.audit_cutoff).

A recording still being recorded, or whose email is still pending or being sent, is kept until that is over:
deleting it would mail a link to nothing or lose the attachment mid-send.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from .audit import purge_expired as purge_audit
from .models import CallLog, Delivery, Recording, get_settings, utcnow
from .recordings import delete_recording

logger = logging.getLogger(__name__)

UNFINISHED_DELIVERY = ("pending", "sending")


def expired_recordings(session, retention_days: int, now: datetime, limit: int):
    """The recordings past retention that may be deleted now, oldest first."""
    cutoff = now - timedelta(days=retention_days)
    busy = select(Delivery.recording_id).where(Delivery.status.in_(UNFINISHED_DELIVERY))
    query = (select(Recording)
             .where(Recording.started_at < cutoff, Recording.status != "recording",
                    Recording.id.not_in(busy))
             .order_by(Recording.started_at, Recording.id)
             .limit(limit))
    return session.scalars(query).all()


def purge_expired(session, recordings_dir: str, now: datetime | None = None, limit: int = 500) -> int:
    """Delete up to `limit` recordings past the retention period; return how many were deleted."""
    retention_days = get_settings().retention_days
    if retention_days <= 0:
        return 0
    while purge_call_log(session, retention_days, now or utcnow(), limit) == limit:
        pass  # in batches: a large backlog never holds one long transaction
    deleted = 0
    for rec in expired_recordings(session, retention_days, now or utcnow(), limit):
        logger.info("retention: deleting recording %s of call %s (%s, started %s)",
                    rec.id, rec.call_uuid, rec.account_number, rec.started_at.isoformat())
        delete_recording(session, rec, recordings_dir)
        deleted += 1
    return deleted


def serve(app, stop_event, interval: float = 3600.0) -> None:
    """Purge expired recordings every `interval` seconds until `stop_event` is set (the controller's thread)."""
    while not stop_event.is_set():
        try:
            with app.app_context():
                from .models import db

                while purge_expired(db.session, app.config["RECORDINGS_DIR"]):
                    if stop_event.is_set():
                        break
                while purge_audit(db.session) and not stop_event.is_set():
                    pass
        except Exception:  # noqa: BLE001 - the loop must outlive a database outage or a bad file
            logger.exception("retention run failed; retrying in %ss", interval)
        stop_event.wait(interval)


def purge_call_log(session, retention_days: int, now: datetime, limit: int = 500) -> int:
    """Delete up to `limit` call-log entries that started before the retention period; return how many."""
    cutoff = now - timedelta(days=retention_days)
    ids = session.scalars(select(CallLog.id).where(CallLog.started_at < cutoff).order_by(CallLog.id)
                          .limit(limit)).all()
    if ids:
        session.execute(delete(CallLog).where(CallLog.id.in_(ids)))
        session.commit()
        logger.info("retention: deleted %d call-log entries older than %d days", len(ids), retention_days)
    return len(ids)
