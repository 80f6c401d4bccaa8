"""Shared fixtures in the flaskr style: app (real database), client, runner, api (bearer-token client).

The database is SQLite in a temporary file by default; set CALLREC_TEST_DATABASE_URL to a PostgreSQL URL to
run every database test against PostgreSQL instead (.ci/run does both). The schema comes from the real
Flask-Migrate migrations, applied once per session.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

TEST_DB_URL = os.environ.get("CALLREC_TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line("markers", "db: uses the real database (run again on PostgreSQL in CI)")
    config.addinivalue_line("markers", "live: needs a real FreeSWITCH and sipp (tests/live/)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from webui import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        from callrec.models import db

        db.engine.dispose()  # the last connection to close checkpoints SQLite's WAL into the file we copy


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory):
    """Migrate once: a SQLite template file to copy, or the PostgreSQL database to truncate."""
    if TEST_DB_URL:
        from sqlalchemy import create_engine

        engine = create_engine(TEST_DB_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _migrate(TEST_DB_URL)
        return TEST_DB_URL
    template = tmp_path_factory.mktemp("dbtemplate") / "template.db"
    _migrate(f"sqlite:///{template}")
    return template


def _reset_postgres(db) -> None:
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in ("settings", "policy_revision")]
    db.session.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
    db.session.execute(text("DELETE FROM settings WHERE id <> 1"))
    db.session.commit()


@pytest.fixture
def database_url(_database_template, tmp_path) -> str:
    """A URL to a freshly migrated, empty database for this test."""
    if TEST_DB_URL:
        return TEST_DB_URL
    path = tmp_path / "callrec.db"
    shutil.copy(_database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    from callrec.models import Settings, db
    from webui import create_app

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RECORDINGS_DIR": str(recordings),
        "SECRET_KEY": "test-secret",
        "MAIL_SUPPRESS_SEND": False,
    })
    with app.app_context():
        if TEST_DB_URL:
            _reset_postgres(db)
            # put the settings row back to the migration's defaults
            db.session.execute(db.delete(Settings))
            db.session.add(Settings(id=1))
            db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class ApiClient:
    """The test client with a valid bearer token on every request."""

    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def _headers(self, headers=None):
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(app, client):
    from callrec.models import ApiToken, db

    with app.app_context():
        row, token = ApiToken.issue("tests")
        db.session.add(row)
        db.session.commit()
    return ApiClient(client, token)


@pytest.fixture
def sounds_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "sounds"
