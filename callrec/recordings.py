"""Queries and views of Recording rows shared by the API and the web UI."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Select, select

from .models import Delivery, Recording
from .validation import parse_id, text_error

DIRECTIONS = ("outgoing", "incoming", "redirected")
STATUSES = ("recording", "completed", "too_short", "missing", "failed")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "skipped")


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC datetime; ValueError if bad or not representable in UTC."""
    try:
        parsed = datetime.fromisoformat(value)
        # 9999-12-31T23:59:59-05:00 or 0001-01-01T00:00+05:00 exist, but not in UTC (where they are stored)
        return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"{value!r} is not an ISO 8601 date or time between the years 1 and 9999 in UTC") \
            from None


def recording_query(args) -> Select:
    """Build the filtered, newest-first recordings query from request-style args (ValueError if bad)."""
    query = select(Recording).order_by(Recording.started_at.desc(), Recording.id.desc())
    for key in ("account_id", "direction", "status", "since", "until", "call_uuid", "delivery_status"):
        if text_error(args.get(key)):
            raise ValueError(f"{key} holds control characters or invalid Unicode")
    if args.get("account_id"):
        account_id = parse_id(str(args["account_id"]))
        if account_id is None:
            raise ValueError("account_id must be an account's id (a whole number)")
        query = query.where(Recording.account_id == account_id)
    if args.get("direction"):
        if args["direction"] not in DIRECTIONS:
            raise ValueError("direction must be one of " + ", ".join(DIRECTIONS))
        query = query.where(Recording.direction == args["direction"])
    if args.get("status"):
        if args["status"] not in STATUSES:
            raise ValueError("status must be one of " + ", ".join(STATUSES))
        query = query.where(Recording.status == args["status"])
    if args.get("since"):
        query = query.where(Recording.started_at >= parse_time(args["since"]))
    if args.get("until"):
        query = query.where(Recording.started_at <= parse_time(args["until"]))
    if args.get("call_uuid"):
        query = query.where(Recording.call_uuid == args["call_uuid"])
    if args.get("delivery_status"):
        if args["delivery_status"] not in DELIVERY_STATUSES:
            raise ValueError("delivery_status must be one of " + ", ".join(DELIVERY_STATUSES))
        query = query.where(Recording.delivery.has(Delivery.status == args["delivery_status"]))
    return query


def recording_to_dict(rec: Recording) -> dict:
    delivery = rec.delivery
    return {
        "id": rec.id,
        "call_uuid": rec.call_uuid,
        "leg_uuid": rec.leg_uuid,
        "account_id": rec.account_id,
        "account_number": rec.account_number,
        "direction": rec.direction,
        "trigger": rec.trigger,
        "caller": rec.caller,
        "callee": rec.callee,
        "started_at": rec.started_at.isoformat() if rec.started_at else None,
        "ended_at": rec.ended_at.isoformat() if rec.ended_at else None,
        "duration_seconds": rec.duration_seconds,
        "size_bytes": rec.size_bytes,
        "sha256": rec.sha256,
        "status": rec.status,
        "status_detail": rec.status_detail,
        "paused_intervals": paused_intervals(rec),
        "delivery": None if delivery is None else {
            "status": delivery.status,
            "recipient": delivery.recipient,
            "reason": delivery.reason,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        },
    }


def pause_spans(rec: Recording) -> list[tuple[datetime, datetime | None]]:
    """The recording's PCI pauses as stored by the controller: (paused at, resumed at or None while paused)."""
    spans = []
    for item in rec.paused_intervals or []:
        try:
            start = parse_time(item["paused_at"])
            end = parse_time(item["resumed_at"]) if item.get("resumed_at") else None
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # not written by the controller: nothing to show
        spans.append((start, end))
    return spans


def paused_intervals(rec: Recording) -> list[dict]:
    """The API's view of the pauses: ISO times and the length (None while still paused)."""
    return [{"paused_at": start.isoformat(), "resumed_at": end.isoformat() if end else None,
             "seconds": round((end - start).total_seconds(), 3) if end else None}
            for start, end in pause_spans(rec)]


def safe_recording_path(rec: Recording, recordings_dir: str) -> str | None:
    """The recording's file if it exists inside the recordings directory, else None (no path traversal)."""
    root = Path(recordings_dir).resolve()
    try:
        path = Path(rec.file_path).resolve()
    except (OSError, RuntimeError):
        return None
    if root != path and root not in path.parents:
        return None
    return str(path) if path.is_file() else None


def delete_recording(session, rec: Recording, recordings_dir: str) -> None:
    """Delete a recording's row (and its delivery) and then its file, if the file is inside the directory."""
    path = safe_recording_path(rec, recordings_dir)
    session.delete(rec)
    session.commit()
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
