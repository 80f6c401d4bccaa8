"""REST API under /api/v1 (DESIGN §4): JSON, bearer tokens, typed errors."""
from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, send_file
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from callrec import audit, services
from callrec import calls as call_log
from callrec.errors import CallrecError, NotFound, ValidationFailed
from callrec.models import (Account, ApiToken, CallLog, CallRequest, Customer, CustomerClass, DialingRule, Product,
                            Recording, db, get_settings, utcnow)
from callrec.recordings import recording_query, recording_to_dict, safe_recording_path
from callrec.validation import MAX_ID

PREFIX = "/api/v1"
LAST_USED_RESOLUTION = timedelta(minutes=1)
bp = Blueprint("api", __name__, url_prefix=PREFIX)

RESOURCES = {
    "customer-classes": CustomerClass,
    "dialing-rules": DialingRule,
    "customers": Customer,
    "products": Product,
    "accounts": Account,
}


def is_api_request() -> bool:
    """Whether the request is for the API: by path, so that it holds when no route matched (404, 405) too."""
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


@bp.errorhandler(CallrecError)
def _domain_error(exc: CallrecError):
    return jsonify(exc.to_dict()), exc.status_code


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """Any HTTP error under /api/v1 as the API's error body; the app's handler sends unrouted ones here too."""
    if exc.code and exc.code >= 500:
        db.session.rollback()
    response = jsonify({"error": exc.description, "error_id": exc.name.lower().replace(" ", "-"), "fields": {}})
    response.status_code = exc.code or 500
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value  # Allow on a 405, Retry-After, ...
    return response


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return None  # the document is public: it describes the API, it holds no data
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("A bearer token is required.")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token.strip())))
    # compare_digest keeps the comparison constant-time even though the lookup already matched the hash
    if row is None or not hmac.compare_digest(row.token_hash, ApiToken.hash(token.strip())):
        return _unauthorized("The bearer token is not valid.")
    now = utcnow()
    if row.expired(now):
        return _unauthorized("The bearer token has expired.", "token-expired")
    if request.method not in READ_METHODS and row.scope != "write":
        return _forbidden("This token may only read (scope read); writes need a token with scope write.")
    g.api_token = row
    audit.act_as(audit.Actor(f"token {row.name} #{row.id}", request.remote_addr or ""))
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        # At most one write a minute per token, not one per request.
        row.last_used_at = now
        db.session.commit()


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _unauthorized(message: str, error_id: str = "unauthorized"):
    response = jsonify({"error": message, "error_id": error_id, "fields": {}})
    response.status_code = 401
    error = "invalid_token"
    response.headers["WWW-Authenticate"] = f'Bearer realm="callrec", error="{error}"' \
        if error_id == "token-expired" else 'Bearer realm="callrec"'
    return response


def _forbidden(message: str):
    response = jsonify({"error": message, "error_id": "forbidden", "fields": {}})
    response.status_code = 403
    return response


def first_request_of_a_play() -> bool:
    """Whether to audit this file request: a player fetches a file in many Range requests, logged once (the first)."""
    range_header = request.headers.get("Range", "").replace(" ", "")
    return not range_header or range_header.startswith("bytes=0-")


def _json_body() -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser's stack; silent=True only covers ValueError
        raise ValidationFailed("The request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return data


def _model(resource: str):
    model = RESOURCES.get(resource)
    if model is None:
        abort(404, "No such resource.")
    return model


def _page_args() -> tuple[int, int]:
    """page (from 1) and per_page (clamped to 1..500); a page whose offset no database can hold is 422."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(500, max(1, int(request.args.get("per_page", 100))))
    except ValueError:
        raise ValidationFailed("page and per_page must be whole numbers.",
                               {"page": "Must be a whole number."}) from None
    if (page - 1) * per_page > MAX_ID:
        raise ValidationFailed("page is beyond any possible result.",
                               {"page": f"At most {MAX_ID // per_page + 1} with per_page={per_page}."})
    return page, per_page


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API (webui/openapi.py), built from the url_map."""
    from . import openapi as document

    return jsonify(document.build(current_app))


@bp.get("/<resource>")
def list_objects(resource: str):
    model = _model(resource)
    page, per_page = _page_args()
    query = select(model).order_by(model.id)
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return jsonify({"items": [services.to_dict(o) for o in result.items], "total": result.total,
                    "page": page, "per_page": per_page})


@bp.post("/<resource>")
def create_object(resource: str):
    obj = services.create(_model(resource), _json_body())
    return jsonify(services.to_dict(obj)), 201


@bp.get("/<resource>/<int:object_id>")
def get_object(resource: str, object_id: int):
    return jsonify(services.to_dict(services.get(_model(resource), object_id)))


@bp.patch("/<resource>/<int:object_id>")
def update_object(resource: str, object_id: int):
    obj = services.get(_model(resource), object_id)
    return jsonify(services.to_dict(services.update(obj, _json_body())))


@bp.delete("/<resource>/<int:object_id>")
def delete_object(resource: str, object_id: int):
    services.delete(services.get(_model(resource), object_id))
    return "", 204


@bp.get("/accounts/<int:object_id>/effective-policy")
def effective_policy(object_id: int):
    account = services.get(Account, object_id)
    return jsonify(account.effective_policy(get_settings()).to_dict())


@bp.get("/settings")
def get_settings_view():
    return jsonify(services.to_dict(get_settings()))


@bp.patch("/settings")
def patch_settings():
    return jsonify(services.to_dict(services.update_settings(_json_body())))


@bp.get("/recordings")
def list_recordings():
    page, per_page = _page_args()
    try:
        query = recording_query(request.args)
    except ValueError as exc:
        raise ValidationFailed("Invalid filter.", {"filter": str(exc)}) from None
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return jsonify({"items": [recording_to_dict(r) for r in result.items], "total": result.total,
                    "page": page, "per_page": per_page})


@bp.get("/recordings/<int:object_id>")
def get_recording(object_id: int):
    return jsonify(recording_to_dict(services.get(Recording, object_id)))


@bp.get("/recordings/<int:object_id>/audio")
def recording_audio(object_id: int):
    recording = services.get(Recording, object_id)
    path = safe_recording_path(recording, current_app.config["RECORDINGS_DIR"])
    if path is None:
        raise NotFound("The recording file is not available.")
    if first_request_of_a_play():
        services.recording_accessed(recording, "download")
    return send_file(path, mimetype="audio/wav", conditional=True, download_name=Path(path).name)


@bp.delete("/recordings/<int:object_id>")
def delete_recording(object_id: int):
    recording = services.get(Recording, object_id)
    services.delete_recording(recording, current_app.config["RECORDINGS_DIR"])
    return "", 204


@bp.get("/calls")
def list_calls():
    """The call log: every account's leg with its decision and the reason in words, newest first (issue 12)."""
    page, per_page = _page_args()
    try:
        query = call_log.call_query(request.args)
    except ValueError as exc:
        raise ValidationFailed("Invalid filter.", {"filter": str(exc)}) from None
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    entries = list(result.items)
    recordings = call_log.recordings_of(db.session, entries)
    return jsonify({"items": [call_log.call_to_dict(e, recordings[e.id]) for e in entries], "total": result.total,
                    "page": page, "per_page": per_page})


@bp.get("/calls/<int:object_id>")
def get_call(object_id: int):
    entry = services.get(CallLog, object_id)
    return jsonify(call_log.call_to_dict(entry, call_log.recordings_of(db.session, [entry])[entry.id]))


@bp.get("/calls/live")
def list_live_calls():
    """Account legs in calls in progress, with their recording state (as the controller last published them)."""
    legs = call_log.live_legs(db.session)
    return jsonify({"items": [call_log.live_leg_to_dict(leg) for leg in legs], "total": len(legs)})


@bp.post("/calls/<leg_uuid>/recording/<action>")
def control_call(leg_uuid: str, action: str):
    """Ask the controller to start or stop an account's recording on a call in progress: 202 and the request to
    poll (Location); the controller acts within a second with the same rules as the account's codes."""
    body = _json_body() if request.get_data() else {}
    row = call_log.request_control(db.session, leg_uuid, action, body.get("account"), requested_by=(
        f"api:{g.api_token.name}"))
    response = jsonify(call_log.call_request_to_dict(row))
    response.status_code = 202
    response.headers["Location"] = f"{PREFIX}/call-requests/{row.id}"
    return response


@bp.get("/call-requests/<int:object_id>")
def get_call_request(object_id: int):
    return jsonify(call_log.call_request_to_dict(services.get(CallRequest, object_id)))


@bp.get("/audit")
def list_audit():
    """The audit trail, newest first; filters: actor, action, object_type, object_id, since, until."""
    page, per_page = _page_args()
    try:
        query = audit.audit_query(request.args)
    except ValueError as exc:
        raise ValidationFailed("Invalid filter.", {"filter": str(exc)}) from None
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return jsonify({"items": [audit.event_to_dict(e) for e in result.items], "total": result.total,
                    "page": page, "per_page": per_page})

