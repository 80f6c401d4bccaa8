"""Sessions (issue 13, item 2): ended server-side, Secure over https, never on the development secret key."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from webui_fixtures import ADMIN_NAME, ADMIN_PASSWORD, admin, auth, logged_in  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _client_with(app, cookie: str):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_an_old_session_cookie_no_longer_works_after_logout(app, logged_in, auth):
    stolen = _session_cookie(logged_in)
    assert _client_with(app, stolen).get("/").status_code == 200
    auth.logout()
    response = _client_with(app, stolen).get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_ends_the_users_other_sessions_too(app, logged_in, auth):
    second = app.test_client()
    from webui_fixtures import AuthActions

    assert AuthActions(second).login().status_code == 302
    assert second.get("/").status_code == 200
    auth.logout()
    assert second.get("/").status_code == 302


def test_a_password_change_ends_every_session_of_the_user(app, logged_in):
    from callrec.models import AdminUser, db

    stolen = _session_cookie(logged_in)
    with app.app_context():
        user = db.session.scalar(db.select(AdminUser).where(AdminUser.username == ADMIN_NAME))
        user.set_password("a brand new password")
        db.session.commit()
    assert _client_with(app, stolen).get("/").status_code == 302
    assert logged_in.get("/").status_code == 302


def test_a_session_cookie_naming_only_the_user_id_is_refused(app, admin):
    """A cookie forged with the secret key but without the user's current token (the pre-0002 form)."""
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    for user_id in ("1", "1:", "1:guess", "x:y", "\u00b2:y"):
        forged = serializer.dumps({"_user_id": user_id, "_fresh": True})
        assert _client_with(app, forged).get("/").status_code == 302, user_id


def _login_cookie(app) -> str:
    from webui_fixtures import AuthActions

    client = app.test_client()
    response = AuthActions(client).login()
    assert response.status_code == 302
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_the_session_cookie_is_secure_when_the_public_url_is_https(app, database_url, tmp_path):
    # `app` first: on PostgreSQL it empties the shared database (a previous test left its admin there).
    from callrec.models import AdminUser, db
    from webui import create_app

    https_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "s",
                            "PUBLIC_URL": "https://callrec.example.net"})
    with https_app.app_context():
        user = AdminUser(username=ADMIN_NAME)
        user.set_password(ADMIN_PASSWORD)
        db.session.add(user)
        db.session.commit()
    assert "; Secure" in _login_cookie(https_app)
    db_app_cleanup(https_app)


def test_the_session_cookie_is_not_secure_over_plain_http(app, admin):
    assert "; Secure" not in _login_cookie(app)


def db_app_cleanup(app) -> None:
    from callrec.models import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("key", ["dev-only-not-secret", ""])
def test_the_web_ui_refuses_to_start_on_the_development_key(database_url, key):
    from callrec.config import InsecureConfiguration
    from webui import create_app

    with pytest.raises(InsecureConfiguration, match="CALLREC_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": key})


def test_tests_and_debug_mode_may_use_the_development_key(database_url):
    from webui import create_app

    for config in ({"TESTING": True}, {"DEBUG": True}):
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "dev-only-not-secret", **config})
        db_app_cleanup(app)


def _source_secret_script(tmp_path, **env):
    script = 'source scripts/secret_key.sh; printf "%s" "$CALLREC_SECRET_KEY"'
    environ = {k: v for k, v in os.environ.items() if k not in ("CALLREC_SECRET_KEY", "CALLREC_CONFIG_FILE")}
    environ.update(CALLREC_SECRET_KEY_FILE=str(tmp_path / "var" / "secret_key"), **env)
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60, check=True)


def test_make_run_creates_a_random_secret_key_on_first_run_and_keeps_it(tmp_path):
    first = _source_secret_script(tmp_path)
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.stdout) >= 40 and first.stdout != "dev-only-not-secret"
    assert first.stdout == key_file.read_text().strip()
    again = _source_secret_script(tmp_path)
    assert again.stdout == first.stdout


def test_make_run_keeps_a_configured_secret_key(tmp_path):
    result = _source_secret_script(tmp_path, CALLREC_SECRET_KEY="configured-by-the-operator")
    assert result.stdout == "configured-by-the-operator"
    assert not (tmp_path / "var" / "secret_key").exists()
