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
    from callrec.config import DEV_SECRET_KEY

    if app.config["SECRET_KEY"] == DEV_SECRET_KEY and not app.testing:
        app.logger.warning("CALLREC_SECRET_KEY is not set: sessions and download links use a development key")
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
