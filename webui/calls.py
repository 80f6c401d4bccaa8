"""Calls: the call log (issue 12) -- every account's leg, whether it was recorded and why, and its email."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import false, select

from callrec.calls import (DECISIONS, call_query, email_outcome, live_legs, notes_of, recordings_of,
                           request_control)
from callrec.errors import CallrecError
from callrec.models import Account, CallRequest, db
from callrec.recordings import parse_time

from .crud import paginate
from .forms import ConfirmForm
from .views import settings_zone

bp = Blueprint("calls", __name__, url_prefix="/calls")

FILTERS = ("account_id", "number", "decision", "date_from", "date_to")


def _query_args(args) -> tuple[dict, dict[str, str]]:
    """The page's filters (local dates) as call_query's args; errors per filter."""
    query_args, errors = {}, {}
    for key in ("account_id", "number", "decision"):
        if args.get(key, "").strip():
            query_args[key] = args[key].strip()
    zone = settings_zone()
    for key, target, shift in (("date_from", "since", 0), ("date_to", "until", 1)):
        raw = args.get(key, "").strip()
        if not raw:
            continue
        try:
            moment = datetime.combine(date.fromisoformat(raw) + timedelta(days=shift), time.min, zone)
            if shift:
                moment -= timedelta(microseconds=1)  # the end of the day: `until` is inclusive
            query_args[target] = parse_time(moment.isoformat()).isoformat()
        except (ValueError, OverflowError):
            errors[key] = "Enter a date as YYYY-MM-DD."
    return query_args, errors


@bp.route("/")
def index():
    query_args, errors = _query_args(request.args)
    try:
        query = call_query(query_args)
    except ValueError as exc:
        errors["filter"] = str(exc)
        query = call_query({})
    if errors:
        query = query.where(false())
    page = paginate(query)
    entries = list(page.items)
    recordings = recordings_of(db.session, entries)
    rows = [(e, recordings[e.id], email_outcome(recordings[e.id]), notes_of(e)) for e in entries]
    accounts = db.session.scalars(select(Account).order_by(Account.number)).all()
    active = {key: request.args.get(key, "") for key in FILTERS}
    return render_template("calls/list.html", page=page, rows=rows, accounts=accounts, active=active,
                           errors=errors, decisions=DECISIONS), 422 if errors else 200


@bp.route("/now")
def now():
    """Calls in progress: each account's leg with its recording state and Start/Stop buttons (call control)."""
    recent = db.session.scalars(select(CallRequest).order_by(CallRequest.id.desc()).limit(10)).all()
    return render_template("calls/now.html", legs=live_legs(db.session), recent=recent, form=ConfirmForm())


@bp.route("/now/<leg_uuid>/<action>", methods=["POST"])
def control(leg_uuid: str, action: str):
    """A Start/Stop button: a CallRequest row the controller picks up (the web UI never talks to it directly)."""
    form = ConfirmForm()
    if not form.validate_on_submit():  # pragma: no cover - CSRFProtect rejects first
        return redirect(url_for(".now"))
    try:
        row = request_control(db.session, leg_uuid, action, request.form.get("account") or None,
                              requested_by=f"web:{current_user.username}")
    except CallrecError as exc:
        db.session.rollback()
        flash(f"Not requested: {exc.message}", "error")
    else:
        flash(f"Requested: {action} the recording of {row.account_number} (request {row.id}); the controller acts "
              "within a second.", "success")
    return redirect(url_for(".now"))
