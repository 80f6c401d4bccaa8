"""Registers the admin pages' blueprints (one per area) and what every page shares.

Every page requires a logged-in admin except the login page and the static files: the check is one
`before_request` for the whole app (secure by default, a new page cannot forget it); the API has its own
bearer-token check.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, abort, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from callrec.errors import NotFound
from callrec.models import db, get_settings, utcnow
from callrec.validation import MAX_ID

from .extensions import login_manager

class IdConverter(IntegerConverter):
    """`<int:...>` in routes: an id beyond the database's (PostgreSQL's integer) becomes 0, which no object has.

    So every route answers it as an unknown object (404) and no query ever binds a number the database cannot
    hold. (Refusing it in the converter instead would make werkzeug answer 405 to a PATCH, not 404.)
    """

    def to_python(self, value: str) -> int:
        try:
            number = int(value)
        except ValueError:  # more digits than int() converts
            return 0
        return number if number <= MAX_ID else 0


PUBLIC_ENDPOINTS = PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "download.recording"})

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a read-only user (auditor) may still POST: ending their session and changing their own password.
READ_ONLY_ALLOWED = frozenset({"auth.logout", "users.password"})

# No inline script or style anywhere: the pages' own JS and CSS are static files.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")


def settings_zone() -> ZoneInfo:
    """The time zone of the settings, for the dates on the pages (once per request)."""
    if "callrec_zone" not in g:
        try:
            g.callrec_zone = ZoneInfo(get_settings().time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            g.callrec_zone = ZoneInfo("UTC")
    return g.callrec_zone


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None:
        return ""
    return value.astimezone(settings_zone()).strftime(fmt)


def ago(value: datetime | None) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago'."""
    if value is None:
        return ""
    seconds = max(0, int((utcnow() - value).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def register(app: Flask) -> None:
    from . import (accounts, audit_log, customer_classes, customers, dashboard, dialing_rules, products, recordings,
                   settings, tokens, users)

    for module in (dashboard, settings, customer_classes, dialing_rules, customers, products, accounts,
                   recordings, tokens, users, audit_log):
        app.register_blueprint(module.bp)
    from . import calls

    app.register_blueprint(calls.bp)  # the call log (issue 12)
    app.add_url_rule("/", "index", dashboard.index)  # the old name, kept for url_for("index")

    from .api import http_error, is_api_request

    @app.before_request
    def _require_login():
        if is_api_request() or request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        from callrec import audit

        audit.act_as(audit.Actor(f"{current_user.role} {current_user.username}", request.remote_addr or ""))
        if current_user.read_only and request.method not in SAFE_METHODS \
                and request.endpoint not in READ_ONLY_ALLOWED:
            # Auditors change nothing: one check for every route, so a new form cannot forget it.
            abort(403, "Your role (auditor) may look at everything but change nothing.")
        return None

    @app.after_request
    def _security_headers(response):
        if not is_api_request():
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            # Pages and API answers hold the admin's data: no browser or proxy may keep a copy.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        """Errors no blueprint handled: JSON under /api/v1 (never HTML), else a page in the site's layout."""
        if is_api_request():
            return http_error(exc)
        if exc.code and exc.code >= 500:
            db.session.rollback()  # the page's layout may read the database; start from a clean session
        code = exc.code or 500
        message = {404: "There is no such page or object.",
                   500: "Something went wrong on our side; it has been logged."}.get(code, exc.description)
        response = app.make_response((render_template("error.html", code=code, message=message), code))
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(CSRFError)
    def _csrf_failed(exc):
        return render_template("error.html", code=400,
                               message="The form was missing its security token or it has expired: "
                                       "reload the page and try again."), 400

    @app.errorhandler(NotFound)
    def _domain_not_found(exc):
        return render_template("error.html", code=404, message=exc.message), 404

    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(ago, "ago")
