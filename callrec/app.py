"""The core Flask application both the web UI and the controller build on (database, mail, migrations)."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from .config import flask_config, load_config
from .extensions import mail, migrate
from .models import db, install_listeners

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_core_app(name: str = "callrec", test_config: dict | None = None) -> Flask:
    """Create a Flask app with the database, mail and migrations wired; no blueprints."""
    app = Flask(name)
    environ = dict(os.environ)
    config = load_config(environ)
    app.config.from_mapping(flask_config(config))
    if test_config:
        app.config.update(test_config)
        if "SQLALCHEMY_DATABASE_URI" in test_config:
            app.config["CALLREC"]["CALLREC_DATABASE_URL"] = test_config["SQLALCHEMY_DATABASE_URI"]
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        # The web UI and the controller write to one file from several processes: wait for locks.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
                                                   "connect_args": {"timeout": 30}}
    elif url.startswith(("postgresql", "postgres")):
        # psycopg2: batch executemany UPDATEs too (the controller finalises recordings in bulk)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
                                                   "executemany_mode": "values_plus_batch"}
    install_listeners()
    db.init_app(app)
    if url.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    mail.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    return app


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Enforce foreign keys as PostgreSQL does; WAL lets readers and one writer work at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash may lose the last commits, never corrupts
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
