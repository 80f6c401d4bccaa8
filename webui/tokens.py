"""API tokens: list (with last use, scope, expiry), create (the secret is shown once), revoke."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from callrec import services
from callrec.errors import Conflict, ValidationFailed
from callrec.models import ApiToken, db, utcnow
from callrec.validation import id_error

from .forms import ConfirmForm, TokenForm

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def _page(form: TokenForm, secret: str | None = None, created: ApiToken | None = None, status: int = 200):
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    return render_template("tokens/list.html", rows=rows, form=form, confirm=ConfirmForm(), secret=secret,
                           created=created, now=utcnow()), status


@bp.route("/", methods=["GET", "POST"])
def index():
    form = TokenForm()
    if form.validate_on_submit():
        payload = form.payload()
        try:
            row, secret = services.create_token(payload["name"], payload["scope"], payload["lifetime_days"])
        except (ValidationFailed, Conflict) as exc:
            form.show_errors(exc.fields, exc.message)
            return _page(form, status=422)
        # Shown in this answer only (never stored, never in a redirect or the session).
        return _page(TokenForm(formdata=None), secret=secret, created=row, status=201)
    return _page(form)


@bp.route("/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    row = db.session.get(ApiToken, token_id) if id_error(token_id) is None else None
    if row is None:
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():  # pragma: no cover - CSRFProtect rejects first
        abort(400)
    name = row.name
    services.revoke_token(row)
    flash(f"Revoked API token {name} (#{token_id}); it stopped working at once.", "success")
    return redirect(url_for(".index"))
