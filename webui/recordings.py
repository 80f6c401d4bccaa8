"""Recordings: filter, play in the page (HTTP Range), download, delete, delivery status and "send again"."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import false, select

from callrec import outbox, services
from callrec.models import Account, Delivery, Recording, db
from callrec.validation import id_error
from callrec.recordings import (DELIVERY_STATUSES, DIRECTIONS, STATUSES, parse_time, pause_spans,
                                recording_query, safe_recording_path)

from .crud import paginate
from .forms import ConfirmForm
from .views import settings_zone

bp = Blueprint("recordings", __name__, url_prefix="/recordings")

FILTERS = ("account_id", "direction", "status", "delivery_status", "date_from", "date_to")


def _day_bounds(args) -> tuple[dict, dict[str, str]]:
    """Turn the page's filters (local dates) into recording_query's args; errors per filter."""
    query_args, errors = {}, {}
    for key in ("account_id", "direction", "status", "delivery_status"):
        if args.get(key):
            query_args[key] = args[key]
    zone = settings_zone()
    for key, target, shift in (("date_from", "since", 0), ("date_to", "until", 1)):
        raw = args.get(key, "").strip()
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day + timedelta(days=shift), time.min, zone)
            if shift:
                moment -= timedelta(microseconds=1)  # the end of the day: recording_query's `until` is inclusive
            query_args[target] = parse_time(moment.isoformat()).isoformat()  # in UTC, or ValueError
        except (ValueError, OverflowError):  # not a date, or the calendar's first/last day beyond UTC's
            errors[key] = "Enter a date as YYYY-MM-DD."
            continue
    return query_args, errors


@bp.route("/")
def index():
    query_args, errors = _day_bounds(request.args)
    try:
        query = recording_query(query_args)
    except ValueError as exc:
        errors["filter"] = str(exc)
        query = recording_query({})
    if errors:
        query = query.where(false())
    page = paginate(query)
    status = 422 if errors else 200
    accounts = db.session.scalars(select(Account).order_by(Account.number)).all()
    active = {key: request.args.get(key, "") for key in FILTERS}
    return render_template("recordings/list.html", page=page, accounts=accounts, active=active, errors=errors,
                           directions=DIRECTIONS, statuses=STATUSES, delivery_statuses=DELIVERY_STATUSES), status


def _get(recording_id: int) -> Recording:
    recording = db.session.get(Recording, recording_id) if id_error(recording_id) is None else None
    if recording is None:
        abort(404)
    return recording


@bp.route("/<int:recording_id>")
def show(recording_id: int):
    recording = _get(recording_id)
    playable = safe_recording_path(recording, current_app.config["RECORDINGS_DIR"]) is not None
    return render_template("recordings/show.html", rec=recording, playable=playable, form=ConfirmForm(),
                           pauses=pause_spans(recording))


@bp.route("/<int:recording_id>/audio")
def audio(recording_id: int):
    """The file, with Range support for the audio element; ?download=1 saves it instead."""
    recording = _get(recording_id)
    path = safe_recording_path(recording, current_app.config["RECORDINGS_DIR"])
    if path is None:
        abort(404)
    download = request.args.get("download") == "1"
    from .api import first_request_of_a_play

    if first_request_of_a_play():
        services.recording_accessed(recording, "download" if download else "play")
    response = send_file(path, mimetype="audio/wav", conditional=True, as_attachment=download,
                         download_name=Path(path).name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<int:recording_id>/delete", methods=["GET", "POST"])
def delete(recording_id: int):
    recording = _get(recording_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        label = f"{recording.account_number} {recording.direction} call"
        services.delete_recording(recording, current_app.config["RECORDINGS_DIR"])
        flash(f"Deleted the recording of the {label}.", "success")
        return redirect(url_for(".index"))
    return render_template("recordings/confirm_delete.html", rec=recording, form=form)


@bp.route("/<int:recording_id>/send-again", methods=["POST"])
def send_again(recording_id: int):
    recording = _get(recording_id)
    form = ConfirmForm()
    if not form.validate_on_submit():  # pragma: no cover - CSRFProtect rejects first
        abort(400)
    delivery: Delivery | None = recording.delivery
    if delivery is None:
        flash("This recording has no email delivery yet (it is still being recorded).", "error")
        return redirect(url_for(".show", recording_id=recording_id))
    try:
        recipient = services.resend_recording(recording)  # asks the account's current policy for the recipient
    except outbox.RequeueRefused as exc:
        flash(f"Not sent again: {exc.message}.", "error")
    else:
        flash(f"The recording will be sent again, to {recipient}.", "success")
    return redirect(url_for(".show", recording_id=recording_id))
