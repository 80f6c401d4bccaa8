"""Login and logout of admin users (Flask-Login), with failed attempts rate-limited per user."""
from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from callrec.models import AdminUser, db, utcnow

from .forms import ConfirmForm, LoginForm

bp = Blueprint("auth", __name__)

MAX_FAILED_LOGINS = 5  # consecutive failures before the account is locked ...
LOCK_SECONDS = 15 * 60  # ... for this long; both overridable in the app config
FAILED = "Unknown user or wrong password."

_dummy_hash: list[str] = []


def _spend_a_password_check(password: str) -> None:
    """Check against a throwaway hash, so that an unknown user takes as long as a wrong password."""
    if not _dummy_hash:
        _dummy_hash.append(generate_password_hash("not-a-password"))
    check_password_hash(_dummy_hash[0], password)


def _safe_next(target: str | None) -> str:
    """Only follow a `next` that stays on this site (a path), never another host."""
    # Browsers drop tabs and newlines from URLs ("/\t/evil.example" is "//evil.example") and a CR/LF would
    # split the Location header: any control character or space makes the target unsafe.
    if target and not any(ord(c) <= 0x20 or ord(c) == 0x7f for c in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = db.session.scalar(select(AdminUser).where(AdminUser.username == (form.username.data or "").strip()))
        message = _authenticate(user, form.password.data or "")
        if message is None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(message, "error")
        status = 401
    return render_template("auth/login.html", form=form), status


def _authenticate(user: AdminUser | None, password: str) -> str | None:
    """Check the password unless the user is locked; count failures; return an error message or None."""
    if user is None:
        _spend_a_password_check(password)
        return FAILED
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        minutes = math.ceil((user.locked_until - now).total_seconds() / 60)
        return f"Too many failed attempts: this user is locked; try again in {minutes} minute(s)."
    if user.check_password(password):
        user.failed_logins, user.locked_until = 0, None
        db.session.commit()
        return None
    limit = current_app.config.get("LOGIN_MAX_FAILURES", MAX_FAILED_LOGINS)
    user.failed_logins += 1
    if user.failed_logins >= limit:
        user.failed_logins = 0
        user.locked_until = now + timedelta(seconds=current_app.config.get("LOGIN_LOCK_SECONDS", LOCK_SECONDS))
        db.session.commit()
        return "Too many failed attempts: this user is locked for a while."
    db.session.commit()
    return FAILED


@bp.route("/logout", methods=["POST"])
def logout():
    form = ConfirmForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            # Server-side: a copy of this session cookie (or any other of this user's) no longer works.
            current_user.end_sessions()
            db.session.commit()
        logout_user()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
