"""The audit trail page: who did what, filtered by actor, action, object type and dates (the settings' zone)."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import distinct, false, select

from callrec import audit
from callrec.models import AuditEvent, db

from .crud import paginate
from .views import settings_zone

bp = Blueprint("audit", __name__, url_prefix="/audit")

FILTERS = ("actor", "action", "object_type", "object_id", "date_from", "date_to")


def _query_args(args) -> tuple[dict, dict[str, str]]:
    """The page's filters as audit_query's args (local dates to UTC bounds); errors per filter."""
    query_args = {key: args[key] for key in ("actor", "action", "object_type", "object_id") if args.get(key)}
    errors: dict[str, str] = {}
    for key, target, shift in (("date_from", "since", 0), ("date_to", "until", 1)):
        raw = args.get(key, "").strip()
        if not raw:
            continue
        try:
            moment = datetime.combine(date.fromisoformat(raw) + timedelta(days=shift), time.min, settings_zone())
            if shift:
                moment -= timedelta(microseconds=1)
            query_args[target] = moment.isoformat()
        except (ValueError, OverflowError):
            errors[key] = "Enter a date as YYYY-MM-DD."
    return query_args, errors


@bp.route("/")
def index():
    query_args, errors = _query_args(request.args)
    try:
        query = audit.audit_query(query_args)
    except ValueError as exc:
        errors["filter"] = str(exc)
        query = audit.audit_query({})
    if errors:
        query = query.where(false())
    page = paginate(query)
    actors = db.session.scalars(select(distinct(AuditEvent.actor)).order_by(AuditEvent.actor)).all()
    active = {key: request.args.get(key, "") for key in FILTERS}
    return render_template("audit/list.html", page=page, active=active, errors=errors, actors=actors,
                           actions=audit.ACTIONS, object_types=audit.OBJECT_TYPES,
                           changes_of=lambda e: json.loads(e.changes) if e.changes else {}), 422 if errors else 200
