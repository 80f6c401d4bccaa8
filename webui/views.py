"""Registers the admin pages' blueprints (one per area) and what every page shares.

Every page requires a logged-in admin except the login page and the static files: the check is one
`before_request` for the whole app (secure by default, a new page cannot forget it); the API has its own
bearer-token check.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from callrec.errors import NotFound
from callrec.models import get_settings, utcnow

from .extensions import login_manager

PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "download.recording"})

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
    from . import (accounts, customer_classes, customers, dashboard, dialing_rules, products, recordings,
                   settings)

    for module in (dashboard, settings, customer_classes, dialing_rules, customers, products, accounts,
                   recordings):
        app.register_blueprint(module.bp)
    app.add_url_rule("/", "index", dashboard.index)  # the old name, kept for url_for("index")

    @app.before_request
    def _require_login():
        if request.blueprint == "api" or request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None

    @app.after_request
    def _security_headers(response):
        if request.blueprint != "api":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(404)
    def _not_found(exc):
        if request.blueprint == "api":
            return exc
        return render_template("error.html", code=404, message="There is no such page or object."), 404

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
