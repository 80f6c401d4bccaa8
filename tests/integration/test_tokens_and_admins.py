"""Tokens and admins (issue 13, item 4, the command-line part): list and revoke tokens, last use, reset a password."""
from __future__ import annotations

from sqlalchemy import select
from webui_fixtures import ADMIN_NAME, admin, auth, logged_in  # noqa: F401

from callrec.models import AdminUser, ApiToken, db


def _token(runner, name: str) -> str:
    return runner.invoke(args=["create-token", name]).output.strip().splitlines()[-1]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_list_tokens_shows_names_and_last_use_never_the_tokens(runner, client):
    used, unused = _token(runner, "billing"), _token(runner, "spare")
    assert client.get("/api/v1/accounts", headers=_bearer(used)).status_code == 200
    result = runner.invoke(args=["list-tokens"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()[1:]}
    assert lines["spare"].endswith("never")
    assert not lines["billing"].endswith("never")
    assert used not in result.output and unused not in result.output


def test_the_api_records_when_a_token_was_last_used(app, runner, client):
    token = _token(runner, "billing")
    with app.app_context():
        assert db.session.scalar(select(ApiToken.last_used_at)) is None
    client.get("/api/v1/settings", headers=_bearer(token))
    with app.app_context():
        assert db.session.scalar(select(ApiToken.last_used_at)) is not None


def test_a_revoked_token_stops_working_at_once(app, runner, client):
    token, other = _token(runner, "billing"), _token(runner, "other")
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "billing"))
    result = runner.invoke(args=["revoke-token", str(token_id)])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/accounts", headers=_bearer(token)).status_code == 401
    assert client.get("/api/v1/accounts", headers=_bearer(other)).status_code == 200


def test_revoking_an_unknown_token_fails_loudly(runner):
    for token_id in ("12345", "99999999999"):
        result = runner.invoke(args=["revoke-token", token_id])
        assert result.exit_code != 0 and "No API token" in result.output


def test_reset_password_sets_a_new_password_and_ends_the_users_sessions(app, runner, logged_in):
    result = runner.invoke(args=["reset-password", ADMIN_NAME, "--generate"])
    assert result.exit_code == 0, result.output
    password = result.output.split(f"One-time password for {ADMIN_NAME}: ")[1].split()[0]
    assert logged_in.get("/").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AdminUser)).check_password(password)


def test_reset_password_of_an_unknown_user_fails(runner):
    result = runner.invoke(args=["reset-password", "nobody", "--generate"])
    assert result.exit_code != 0 and "No admin user" in result.output
