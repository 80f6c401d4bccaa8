"""Tokens and admins (issue 13, item 4, the command-line part): list and revoke tokens, last use, reset a password."""
from __future__ import annotations

import re

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


# ---------------------------------------------------------------------------------------------- expiry and scope

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from webui_fixtures import form_post, text_of  # noqa: E402

from callrec.models import utcnow  # noqa: E402

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _api_write_requests(app) -> list[tuple[str, str]]:
    """(method, url) of every write route of the API, from the app's own url_map (a new one is included)."""
    from webui.api import RESOURCES

    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            for resource in (RESOURCES if "<resource>" in rule.rule else [None]):
                url = rule.rule.replace("<resource>", resource or "").replace("<int:object_id>", "1")
                found.append((method, url))
    return found


def _issue(app, **values) -> str:
    with app.app_context():
        row, token = ApiToken.issue("t", **values)
        db.session.add(row)
        db.session.commit()
    return token


def test_an_expired_token_is_refused_with_a_typed_401(app, client):
    token = _issue(app, expires_at=utcnow() - timedelta(seconds=1))
    response = client.get("/api/v1/accounts", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json["error_id"] == "token-expired"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_works_until_it_expires(app, client):
    token = _issue(app, expires_at=utcnow() + timedelta(minutes=5))
    assert client.get("/api/v1/accounts", headers=_bearer(token)).status_code == 200


def test_a_read_scoped_token_gets_403_on_every_api_write_and_changes_nothing(app, client):
    token = _issue(app, scope="read")
    writes = _api_write_requests(app)
    assert len(writes) >= 17  # 5 resources x create/update/delete, settings, recordings
    for method, url in writes:
        response = client.open(url, method=method, json={"name": "x"}, headers=_bearer(token))
        assert response.status_code == 403, (method, url, response.status_code)
        assert response.json["error_id"] == "forbidden"
    with app.app_context():
        from callrec.models import AuditEvent, CustomerClass

        assert db.session.scalar(select(CustomerClass.id)) is None
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action != "token-create")) is None
    assert client.get("/api/v1/settings", headers=_bearer(token)).status_code == 200


def test_a_write_scoped_token_may_write(app, client):
    token = _issue(app, scope="write")
    response = client.post("/api/v1/customer-classes", json={"name": "Gold"}, headers=_bearer(token))
    assert response.status_code == 201


def test_create_token_on_the_command_line_with_scope_and_lifetime(app, runner, client):
    result = runner.invoke(args=["create-token", "reporting", "--scope", "read", "--expires-in-days", "2"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert client.get("/api/v1/settings", headers=_bearer(token)).status_code == 200
    assert client.patch("/api/v1/settings", json={}, headers=_bearer(token)).status_code == 403
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.scope == "read"
        assert timedelta(days=2) - timedelta(minutes=1) < row.expires_at - utcnow() <= timedelta(days=2)
    listing = runner.invoke(args=["list-tokens"]).output
    assert "reporting" in listing and " read " in listing and row.expires_at.strftime("%Y-%m-%d") in listing


def test_list_tokens_marks_an_expired_token(app, runner):
    _issue(app, expires_at=utcnow() - timedelta(days=1))
    assert "(expired)" in runner.invoke(args=["list-tokens"]).output


@pytest.mark.parametrize("args", [["--scope", "admin"], ["--expires-in-days", "-1"], ["--expires-in-days", "x"]])
def test_create_token_refuses_bad_options_and_creates_nothing(app, runner, args):
    result = runner.invoke(args=["create-token", "billing", *args])
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id)) is None


def test_the_tokens_page_shows_a_new_token_once_and_it_works(app, logged_in, client):
    response = form_post(logged_in, "/tokens/", {"name": "billing", "scope": "write", "lifetime_days": "30"})
    assert response.status_code == 201
    token = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert app.test_client().get("/api/v1/accounts", headers=_bearer(token)).status_code == 200
    page = logged_in.get("/tokens/")
    assert token not in page.get_data(as_text=True)
    assert "billing" in text_of(page) and "never" in text_of(page)  # not used from the page's point of view yet
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.scope == "write" and row.expires_at is not None


def test_the_tokens_page_lists_last_use(app, logged_in):
    token = _issue(app)
    logged_in.get("/api/v1/accounts", headers=_bearer(token))
    assert "just now" in text_of(logged_in.get("/tokens/"))


def test_revoking_on_the_tokens_page_stops_the_token(app, logged_in):
    token = _issue(app)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    response = form_post(logged_in, f"/tokens/{token_id}/revoke", {}, form_url="/tokens/")
    assert response.status_code == 302
    assert app.test_client().get("/api/v1/accounts", headers=_bearer(token)).status_code == 401


def test_the_tokens_page_refuses_a_post_without_its_csrf_token(app, logged_in):
    assert logged_in.post("/tokens/", data={"name": "x", "scope": "read", "lifetime_days": "1"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id)) is None


@pytest.mark.parametrize("field, values", [
    ("name", {"name": "", "scope": "read", "lifetime_days": "30"}),
    ("name", {"name": "x" * 81, "scope": "read", "lifetime_days": "30"}),
    ("name", {"name": "a\x00b", "scope": "read", "lifetime_days": "30"}),
    ("scope", {"name": "b", "scope": "admin", "lifetime_days": "30"}),
    ("lifetime_days", {"name": "b", "scope": "read", "lifetime_days": "0"}),
    ("lifetime_days", {"name": "b", "scope": "read", "lifetime_days": "3651"}),
    ("lifetime_days", {"name": "b", "scope": "read", "lifetime_days": "soon"}),
])
def test_the_tokens_page_refuses_bad_input_by_field_and_creates_nothing(app, logged_in, field, values):
    from webui_fixtures import field_error

    response = form_post(logged_in, "/tokens/", values)
    assert response.status_code == 422
    assert field_error(response, field)
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id)) is None
