"""Login and logout of admin users (Flask-Login); failed logins throttled by address and (address, name)."""
from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from callrec.models import AdminUser, db
from callrec.validation import text_error

from .forms import ConfirmForm, LoginForm
from callrec import audit

from .throttle import DatabaseLoginThrottle, LoginThrottle

bp = Blueprint("auth", __name__)

FAILED = "Unknown user or wrong password."
THROTTLED = "Too many failed attempts from your address: try again in {minutes} minute(s)."

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
    if form.validate_on_submit():
        name = (form.username.data or "").strip()
        address = request.remote_addr or ""
        throttle = login_throttle()
        wait = throttle.retry_after(address, name)
        if wait:  # before any lookup or hash: the same answer for every name, and a flood costs nothing
            flash(THROTTLED.format(minutes=math.ceil(wait / 60)), "error")
            response = current_app.make_response((render_template("auth/login.html", form=form), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        # A name with NUL or invalid Unicode can name no user (and PostgreSQL would refuse it in a query).
        user = None if text_error(name) else db.session.scalar(select(AdminUser).where(AdminUser.username == name))
        if _password_matches(user, form.password.data or ""):
            throttle.succeeded(address, name)
            login_user(user)
            audit.record(db.session, "login", "admin_user", user.id, user.username,
                         actor=audit.Actor(f"{user.role} {user.username}", address))
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        throttle.failed(address, name)
        # A failed login names the user only when there is one (a typed name may be someone's password).
        audit.record(db.session, "login-failed", "admin_user", user.id if user else None,
                     user.username if user else "", actor=audit.Actor(
                         f"{user.role} {user.username}" if user else "unknown user", address))
        db.session.commit()
        flash(FAILED, "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


def login_throttle() -> LoginThrottle:
    """The app's throttle, made on first use from the config (LOGIN_MAX_FAILURES, ...)."""
    throttle = current_app.extensions.get("callrec_login_throttle")
    if throttle is None:
        config = current_app.config
        # In the database: every gunicorn worker counts the same failures (an attacker gains nothing from
        # landing on another worker), and a restart forgets none.
        throttle = DatabaseLoginThrottle(lambda: db.session,
                                         pair_limit=config.get("LOGIN_MAX_FAILURES", 5),
                                         address_limit=config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
                                         window_seconds=config.get("LOGIN_WINDOW_SECONDS", 15 * 60),
                                         lock_seconds=config.get("LOGIN_LOCK_SECONDS", 15 * 60))
        current_app.extensions["callrec_login_throttle"] = throttle
    return throttle


def _password_matches(user: AdminUser | None, password: str) -> bool:
    if user is None:
        _spend_a_password_check(password)  # an unknown name takes as long as a wrong password
        return False
    return user.check_password(password)


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
