"""callrec's admin web UI and REST API: `flask --app webui run`, or `webui:create_app()` under gunicorn."""
from __future__ import annotations

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Create and configure an instance of the web UI."""
    from callrec.app import create_core_app

    from . import api, auth, cli, download, views
    from .extensions import csrf, login_manager

    app = create_core_app("webui", test_config)
    # Before any blueprint adds its rules: an <int:...> beyond the database's ids matches no route (404).
    app.url_map.converters["int"] = views.IdConverter
    _check_secret_key(app)
    if str(app.config.get("PUBLIC_URL", "")).lower().startswith("https://"):
        # Served over TLS: the browser must never send the session cookie over plain HTTP.
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    _trust_proxies(app)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not app.config.get("SESSION_COOKIE_SAMESITE"):  # Flask's default is None, so setdefault won't do
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    if not app.config.get("REMEMBER_COOKIE_SAMESITE"):
        app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"

    csrf.init_app(app)
    login_manager.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(download.bp)  # signed links in delivery emails; public by design
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, not cookies
    views.register(app)
    cli.init_app(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind N reverse proxies, take the client's address (login throttling, audit) from X-Forwarded-For.

    Only the last N entries are believed (werkzeug's ProxyFix): a client cannot pose as another address by
    sending its own X-Forwarded-For, since the proxy appends the real one.
    """
    count = int(app.config.get("TRUSTED_PROXIES", app.config["CALLREC"].get("CALLREC_TRUSTED_PROXIES", 0)) or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]


def _check_secret_key(app: Flask) -> None:
    """Refuse to serve on the published development key: anyone could forge an admin's session with it.

    Allowed only for tests, debug mode (FLASK_DEBUG=1) and the flask command line (`flask db upgrade`,
    `create-admin`, the `flask run` development server), which serve no production traffic. `make run`
    creates a random key in var/secret_key on first run (scripts/secret_key.sh).
    """
    import click

    from callrec.config import DEV_SECRET_KEY, InsecureConfiguration

    if app.config.get("SECRET_KEY") not in (DEV_SECRET_KEY, "", None):
        return
    if app.testing or app.debug or click.get_current_context(silent=True) is not None:
        app.logger.warning("CALLREC_SECRET_KEY is not set: sessions and download links use a development key")
        return
    raise InsecureConfiguration(
        "CALLREC_SECRET_KEY is not set (or is the published development key): refusing to start, since anyone "
        "could forge an admin session with it. Set CALLREC_SECRET_KEY to a long random value, e.g. "
        "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` (make run keeps one in var/secret_key).")
