"""The audit trail: who changed, played, downloaded, deleted or re-sent what, and who logged in (issue 13 item 5).

callrec.services records an AuditEvent in the same transaction as the change it describes, so the trail can
neither miss a committed change nor mention one that was rolled back. Who acts comes from the request (the web
UI and the API put an Actor on flask.g) or from the command line; anything else is "system".
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import g, has_app_context
from sqlalchemy import delete, select

from .models import AuditEvent, get_settings, utcnow

logger = logging.getLogger(__name__)

# What the page's and the API's `action` filter accept.
ACTIONS = ("create", "update", "delete", "play", "download", "resend", "token-create", "token-revoke",
           "login", "login-failed", "user-create", "user-update", "password-change")
OBJECT_TYPES = ("settings", "customer_class", "dialing_rule", "customer", "product", "account", "recording",
                "api_token", "admin_user")


@dataclass(frozen=True)
class Actor:
    name: str  # "admin alice", "token billing #3", "cli"
    address: str = ""


SYSTEM = Actor("system")


def act_as(actor: Actor) -> None:
    """Make `actor` the author of what this request (or command) changes."""
    g.callrec_actor = actor


def current_actor() -> Actor:
    if has_app_context():
        return g.get("callrec_actor", SYSTEM)
    return SYSTEM


def diff(before: dict, after: dict) -> dict[str, list]:
    """{field: [before, after]} for every field whose value differs (pure)."""
    return {key: [before.get(key), after.get(key)] for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)}


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested objects (an account's call_recording) as dotted keys, so a diff names the flag that changed."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def record(session, action: str, object_type: str = "", object_id: int | None = None, label: str = "",
           changes: dict | None = None, actor: Actor | None = None) -> AuditEvent:
    """Add (not commit) one audit event; the caller's commit writes it with the change."""
    who = actor or current_actor()
    event = AuditEvent(at=utcnow(), actor=who.name[:120], address=who.address[:64], action=action,
                       object_type=object_type, object_id=object_id, object_label=(label or "")[:255],
                       changes=json.dumps(changes, default=str, sort_keys=True) if changes else "")
    session.add(event)
    logger.info("audit: %s %s %s %s (%s)", who.name, action, object_type, object_id if object_id else "", label)
    return event


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at.isoformat(), "actor": event.actor, "address": event.address,
            "action": event.action, "object_type": event.object_type, "object_id": event.object_id,
            "object_label": event.object_label, "changes": json.loads(event.changes) if event.changes else {}}


def audit_query(args):
    """The audit events matching request-style filters (actor, action, object_type, object_id, since, until),
    newest first; ValueError names a bad filter. The page and the API share it."""
    from .recordings import parse_time
    from .validation import parse_id, text_error

    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    for key, choices in (("actor", None), ("action", ACTIONS), ("object_type", OBJECT_TYPES)):
        value = (args.get(key) or "").strip()
        if not value:
            continue
        if text_error(value) or len(value) > 120:
            raise ValueError(f"{key}: not a valid value")
        if choices and value not in choices:
            raise ValueError(f"{key}: one of " + ", ".join(choices))
        query = query.where(getattr(AuditEvent, key) == value)
    if args.get("object_id"):
        object_id = parse_id(args["object_id"])
        if object_id is None:
            raise ValueError("object_id: a whole number (an id)")
        query = query.where(AuditEvent.object_id == object_id)
    if args.get("since"):
        query = query.where(AuditEvent.at >= parse_time(args["since"]))
    if args.get("until"):
        query = query.where(AuditEvent.at <= parse_time(args["until"]))
    return query


def audit_cutoff(recording_days: int, audit_days: int, now: datetime) -> datetime | None:
    """Events older than this may go; None keeps them all (pure).

    The trail is kept at least as long as the recordings it mentions: never purged while recordings are kept
    forever (0), and never before the recordings' own cutoff.
    """
    if audit_days <= 0 or recording_days <= 0:
        return None
    return now - timedelta(days=max(audit_days, recording_days))


def purge_expired(session, now: datetime | None = None) -> int:
    """Delete the audit events past the audit retention period; return how many."""
    settings = get_settings()
    cutoff = audit_cutoff(settings.retention_days, settings.audit_retention_days, now or utcnow())
    if cutoff is None:
        return 0
    ids = session.scalars(select(AuditEvent.id).where(AuditEvent.at < cutoff).limit(5000)).all()
    if ids:
        session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        session.commit()
        logger.info("retention: deleted %s audit event(s) older than %s", len(ids), cutoff.isoformat())
    return len(ids)
