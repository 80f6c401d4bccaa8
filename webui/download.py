"""Download of a recording through the signed, expiring link in a delivery email (no login; the signature is the key)."""
from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, send_file

from callrec.delivery.links import LinkExpired, LinkInvalid, read_token
from callrec.delivery.message import CallFacts, attachment_filename, zone
from callrec.models import Recording, db, get_settings
from callrec.recordings import safe_recording_path

# Public by design (webui.views.PUBLIC_ENDPOINTS lists it): the link's signature is the credential.
bp = Blueprint("download", __name__)

@bp.get("/download/<token>")  # callrec.delivery.links.DOWNLOAD_PATH builds these URLs
def recording(token: str):
    max_age = int(current_app.config["CALLREC"].get("CALLREC_LINK_MAX_AGE_DAYS", 7)) * 86400
    try:
        recording_id, digest = read_token(current_app.config["SECRET_KEY"], token, max_age)
    except LinkExpired:
        abort(410, "This download link has expired.")
    except LinkInvalid:
        abort(404)
    rec = db.session.get(Recording, recording_id)
    if rec is None or not hmac.compare_digest((rec.sha256 or "")[:16], digest):
        abort(404)  # deleted, or the id now names another recording
    path = safe_recording_path(rec, current_app.config["RECORDINGS_DIR"])
    if path is None:
        abort(404)
    facts = CallFacts(rec.caller, rec.callee, rec.direction, rec.started_at, rec.duration_seconds)
    name = attachment_filename(facts, zone(get_settings().time_zone))
    return send_file(path, mimetype="audio/wav", as_attachment=True, download_name=name)
