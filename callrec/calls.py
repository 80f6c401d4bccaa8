"""The call log (issue 12): queries and views of CallLog rows shared by the API and the web UI.

Every entry says why its leg was (not) recorded, in the controller's own words; its email outcome is the Delivery
row of the recording it links to, as the delivery side decided it (status, reason, last error), never re-derived.
"""
from __future__ import annotations

import json
import re

from sqlalchemy import Select, or_, select

from .errors import Conflict, NotFound, ValidationFailed
from .models import CallLog, CallRequest, LiveLeg, Recording
from .recordings import DIRECTIONS, parse_time, recording_to_dict
from .validation import parse_id, text_error

DECISIONS = ("recorded", "not_recorded")
FILTERS = ("account_id", "account", "number", "decision", "reason_code", "direction", "since", "until",
           "call_key")
MAX_FILTER_LENGTH = 64


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def call_query(args) -> Select:
    """The filtered, newest-first call-log query from request-style args (ValueError naming the bad filter).

    `account_id`: the account's id; `account`: its number; `number`: any party's or the account's number
    containing it; `decision`: recorded / not_recorded; `since` / `until`: the leg's start, inclusive."""
    query = select(CallLog).order_by(CallLog.started_at.desc(), CallLog.id.desc())
    for key in FILTERS:
        value = args.get(key)
        if text_error(value):
            raise ValueError(f"{key} holds control characters or invalid Unicode")
        if value and len(str(value)) > MAX_FILTER_LENGTH and key not in ("since", "until"):
            raise ValueError(f"{key} is longer than {MAX_FILTER_LENGTH} characters")
    if args.get("account_id"):
        account_id = parse_id(str(args["account_id"]))
        if account_id is None:
            raise ValueError("account_id must be an account's id (a whole number)")
        query = query.where(CallLog.account_id == account_id)
    if args.get("account"):
        query = query.where(CallLog.account_number == args["account"])
    if args.get("number"):
        pattern = _like(args["number"])
        query = query.where(or_(*(column.like(pattern, escape="\\") for column in
                                  (CallLog.account_number, CallLog.caller, CallLog.callee))))
    if args.get("decision"):
        if args["decision"] not in DECISIONS:
            raise ValueError("decision must be one of " + ", ".join(DECISIONS))
        query = query.where(CallLog.decision == args["decision"])
    if args.get("reason_code"):
        query = query.where(CallLog.reason_code == args["reason_code"])
    if args.get("direction"):
        if args["direction"] not in DIRECTIONS:
            raise ValueError("direction must be one of " + ", ".join(DIRECTIONS))
        query = query.where(CallLog.direction == args["direction"])
    if args.get("since"):
        query = query.where(CallLog.started_at >= parse_time(args["since"]))
    if args.get("until"):
        query = query.where(CallLog.started_at <= parse_time(args["until"]))
    if args.get("call_key"):
        query = query.where(CallLog.call_key == args["call_key"])
    return query


def recordings_of(session, entries: list[CallLog]) -> dict[int, list[Recording]]:
    """The recordings of each entry (same call key and account), in one query for a page of entries."""
    keys = {entry.call_key for entry in entries}
    found: dict[tuple[str, str], list[Recording]] = {}
    if keys:
        rows = session.scalars(select(Recording).where(Recording.call_uuid.in_(keys)).order_by(Recording.id))
        for rec in rows.unique():
            found.setdefault((rec.call_uuid, rec.account_number), []).append(rec)
    return {entry.id: found.get((entry.call_key, entry.account_number), []) for entry in entries}


def email_outcome(recordings: list[Recording]) -> tuple[str, str]:
    """(status, words) of the entry's email, from its recording's Delivery row as the delivery side wrote it."""
    if not recordings:
        return "none", "no recording, so no email"
    rec = recordings[-1]
    delivery = rec.delivery
    if delivery is None:
        return "waiting", "the recording is not finished yet"
    if delivery.status == "skipped":
        return "skipped", f"skipped because {delivery.reason or 'no reason was given'}"
    if delivery.status == "sent":
        return "sent", f"sent to {delivery.recipient}"
    if delivery.status == "failed":
        return "failed", f"failed: {delivery.last_error or delivery.reason}"
    return delivery.status, f"{delivery.status} (to {delivery.recipient})"


def notes_of(entry: CallLog) -> list[str]:
    try:
        notes = json.loads(entry.notes or "[]")
    except ValueError:
        return []
    return [str(n) for n in notes] if isinstance(notes, list) else []


def call_to_dict(entry: CallLog, recordings: list[Recording]) -> dict:
    status, words = email_outcome(recordings)
    return {
        "id": entry.id,
        "call_key": entry.call_key,
        "leg_uuid": entry.leg_uuid,
        "account_id": entry.account_id,
        "account_number": entry.account_number,
        "direction": entry.direction,
        "caller": entry.caller,
        "callee": entry.callee,
        "started_at": entry.started_at.isoformat() if entry.started_at else None,
        "ended_at": entry.ended_at.isoformat() if entry.ended_at else None,
        "decision": entry.decision,
        "reason_code": entry.reason_code,
        "reason": entry.reason,
        "notes": notes_of(entry),
        "email": {"status": status, "explanation": words},
        "recordings": [recording_to_dict(rec) for rec in recordings],
    }


# ------------------------------------------------------------------------------------- call control (issue 12)
CONTROL_ACTIONS = ("start", "stop")
NOT_YET_ACTIONS = ("pause", "resume")  # PCI pause is being built (uuid_record mask/unmask); typed 409 until then
_LEG_UUID = re.compile(r"[A-Za-z0-9-]{1,64}")


class ControlUnavailable(Conflict):
    """Pause and resume over the API: not available in this version."""

    error_id = "control-unavailable"


def live_legs(session) -> list[LiveLeg]:
    return list(session.scalars(select(LiveLeg).order_by(LiveLeg.started_at, LiveLeg.leg_uuid)))


def live_leg_to_dict(leg: LiveLeg) -> dict:
    return {"leg_uuid": leg.leg_uuid, "call_key": leg.call_key, "account_number": leg.account_number,
            "direction": leg.direction, "caller": leg.caller, "callee": leg.callee,
            "started_at": leg.started_at.isoformat() if leg.started_at else None, "recording": leg.recording,
            "manual_control": leg.manual_control, "node": leg.node,
            "updated_at": leg.updated_at.isoformat() if leg.updated_at else None}


def request_control(session, leg_uuid: str, action: str, account: object = None,
                    requested_by: str = "") -> CallRequest:
    """Record (and commit) a start/stop request for the controller, which picks it up within a second and writes
    the outcome. The leg must be in a call in progress (a LiveLeg); `account` defaults to the leg's account. The
    policy checks (manual control, account on the leg) are the controller's, with the same rules as the codes."""
    if action in NOT_YET_ACTIONS:
        raise ControlUnavailable(f"{action.capitalize()} is not available in this version: stop and start again "
                                 "continue the same recording file.")
    if action not in CONTROL_ACTIONS:
        raise NotFound(f"No action {action!r}: use one of " + ", ".join(CONTROL_ACTIONS + NOT_YET_ACTIONS) + ".")
    leg = session.get(LiveLeg, leg_uuid) if _LEG_UUID.fullmatch(leg_uuid or "") else None
    if leg is None:
        raise NotFound("No call in progress has that leg.")
    if account is None:
        account = leg.account_number
    if not isinstance(account, str) or not account or len(account) > 64 or text_error(account):
        raise ValidationFailed("Invalid account.", {"account": "An account number (1-64 characters)."})
    row = CallRequest(leg_uuid=leg_uuid, account_number=account, action=action, status="pending",
                      requested_by=requested_by[:120])
    session.add(row)
    session.commit()
    return row


def call_request_to_dict(row: CallRequest) -> dict:
    return {"id": row.id, "leg_uuid": row.leg_uuid, "account_number": row.account_number, "action": row.action,
            "status": row.status, "detail": row.detail, "requested_by": row.requested_by,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "done_at": row.done_at.isoformat() if row.done_at else None}
