"""Roles and passwords (issue 13 item 4): one's own password, user management by admins, a read-only auditor."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from webui_fixtures import ADMIN_NAME, ADMIN_PASSWORD, AuthActions, admin, auth, form_post, logged_in, text_of  # noqa: F401,E501
from werkzeug.security import generate_password_hash

from callrec.models import AdminUser, db

AUDITOR, AUDITOR_PASSWORD = "carol", "auditor password"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# What a read-only user may still POST (webui.views.READ_ONLY_ALLOWED), by path.
ALLOWED = {"/logout", "/users/password", "/login"}  # /login: public, a logged-in user is sent on


def _add_user(app, name: str, password: str, role: str) -> int:
    with app.app_context():
        user = AdminUser(username=name, role=role,
                         password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"))
        db.session.add(user)
        db.session.commit()
        return user.id


@pytest.fixture
def auditor(app, admin):
    """A client logged in as an auditor (an admin exists too)."""
    _add_user(app, AUDITOR, AUDITOR_PASSWORD, "auditor")
    client = app.test_client()
    assert AuthActions(client).login(AUDITOR, AUDITOR_PASSWORD).status_code == 302
    return client


def _web_routes(app, methods: set[str]) -> list[tuple[str, str]]:
    """(method, url) of every page route with one of `methods`, from the url_map, ids filled with 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or rule.endpoint == "static" or rule.endpoint.startswith("download."):
            continue
        for method in sorted((rule.methods or set()) & methods):
            url = rule.rule
            for name in rule.arguments:
                url = url.replace(f"<int:{name}>", "1").replace(f"<{name}>", "x")
            found.append((method, url))
    return found


def test_an_auditor_is_refused_every_write_route_of_the_web_ui(app, auditor):
    writes = [(m, u) for m, u in _web_routes(app, WRITE_METHODS) if u not in ALLOWED]
    assert len(writes) >= 20  # every area's create/edit/delete, settings, recordings, tokens, users
    token = _csrf(auditor)
    for method, url in writes:
        response = auditor.open(url, method=method, data={"csrf_token": token, "name": "x"})
        assert response.status_code == 403, (method, url, response.status_code)
    with app.app_context():
        from callrec.models import ApiToken, AuditEvent

        assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 2
        assert db.session.scalar(select(ApiToken.id)) is None
        assert set(db.session.scalars(select(AuditEvent.action))) == {"login"}


def test_an_auditor_sees_every_page(app, auditor, tmp_path):
    from webui_fixtures import make_recording, make_world, write_wav

    world = make_world(app)
    with app.app_context():
        from callrec import services
        from callrec.models import DialingRule

        world["rule"] = services.create(DialingRule, {"name": "R", "record_start_code": "*1",
                                                      "record_stop_code": "*2"}).id
    assert set(world.values()) == {1}  # the routes below are filled with id 1
    make_recording(app, world["account"], str(write_wav(tmp_path / "recordings" / "a.wav")))
    pages = [u for m, u in _web_routes(app, {"GET"}) if u not in ("/login", "/logout")]
    assert {"/", "/settings/", "/tokens/", "/users/", "/audit/", "/recordings/", "/accounts/1",
            "/recordings/1/audio", "/users/1"} <= set(pages)
    for url in pages:
        with auditor.get(url) as response:  # closes the file of /recordings/1/audio
            assert response.status_code == 200, url


def test_an_auditor_sees_no_forms_that_would_change_anything(auditor):
    assert "Create token" not in text_of(auditor.get("/tokens/"))
    assert "Create user" not in text_of(auditor.get("/users/"))


def test_an_auditor_may_log_out_and_change_their_own_password(app, auditor):
    response = form_post(auditor, "/users/password", {"current_password": AUDITOR_PASSWORD,
                                                      "new_password": "a new secret"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(AdminUser).where(AdminUser.username == AUDITOR))
        assert user.check_password("a new secret")
    assert form_post(auditor, "/logout", {}, form_url="/").status_code == 302
    assert auditor.get("/").status_code == 302


def _csrf(client) -> str:
    from webui_fixtures import csrf_token

    return csrf_token(client, "/users/password")


def test_changing_ones_password_needs_the_current_one(app, logged_in):
    response = form_post(logged_in, "/users/password", {"current_password": "wrong", "new_password": "brand new pw"})
    assert response.status_code == 422
    assert "Wrong password." in text_of(response)
    with app.app_context():
        assert db.session.scalar(select(AdminUser)).check_password(ADMIN_PASSWORD)


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(app, logged_in):
    other = app.test_client()
    assert AuthActions(other).login().status_code == 302
    assert other.get("/").status_code == 200
    response = form_post(logged_in, "/users/password", {"current_password": ADMIN_PASSWORD,
                                                        "new_password": "brand new pw"})
    assert response.status_code == 302
    assert other.get("/").status_code == 302  # the other browser is logged out
    assert logged_in.get("/").status_code == 200  # this one goes on
    assert AuthActions(app.test_client()).login(password="brand new pw").status_code == 302


@pytest.mark.parametrize("new_password", ["short", "x" * 201, "nul\x00inside"])
def test_a_bad_new_password_is_refused_and_the_old_one_kept(app, logged_in, new_password):
    response = form_post(logged_in, "/users/password", {"current_password": ADMIN_PASSWORD,
                                                        "new_password": new_password})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(AdminUser)).check_password(ADMIN_PASSWORD)


def test_an_admin_creates_an_auditor_who_can_log_in(app, logged_in):
    response = form_post(logged_in, "/users/", {"username": "dave", "role": "auditor", "password": "dave's pass"})
    assert response.status_code == 302
    client = app.test_client()
    assert AuthActions(client).login("dave", "dave's pass").status_code == 302
    assert form_post(client, "/settings/", {"retention_days": "1"}, form_url="/settings/").status_code == 403


@pytest.mark.parametrize("field, values", [
    ("username", {"username": "", "role": "admin", "password": "long enough"}),
    ("username", {"username": ADMIN_NAME, "role": "admin", "password": "long enough"}),
    ("role", {"username": "erin", "role": "root", "password": "long enough"}),
    ("password", {"username": "erin", "role": "admin", "password": "short"}),
])
def test_creating_a_user_refuses_bad_input_by_field(app, logged_in, field, values):
    from webui_fixtures import field_error

    response = form_post(logged_in, "/users/", values)
    assert response.status_code in (409, 422)
    assert field_error(response, field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 1


def test_an_admin_resets_a_users_password_which_ends_their_sessions(app, logged_in):
    user_id = _add_user(app, "frank", "frank's old pw", "admin")
    frank = app.test_client()
    assert AuthActions(frank).login("frank", "frank's old pw").status_code == 302
    response = form_post(logged_in, f"/users/{user_id}", {"role": "admin", "password": "frank's new pw"})
    assert response.status_code == 302
    assert frank.get("/").status_code == 302
    assert AuthActions(app.test_client()).login("frank", "frank's new pw").status_code == 302


def test_a_new_role_applies_at_once(app, logged_in):
    user_id = _add_user(app, "gina", "gina's password", "admin")
    gina = app.test_client()
    assert AuthActions(gina).login("gina", "gina's password").status_code == 302
    assert form_post(logged_in, f"/users/{user_id}", {"role": "auditor", "password": ""}).status_code == 302
    assert gina.get("/").status_code == 302  # logged out; at the next login she is an auditor
    assert AuthActions(gina).login("gina", "gina's password").status_code == 302
    assert form_post(gina, "/tokens/", {"name": "x", "scope": "read", "lifetime_days": "1"}).status_code == 403


def test_the_last_admin_cannot_be_made_an_auditor(app, logged_in):
    with app.app_context():
        user_id = db.session.scalar(select(AdminUser.id))
    response = form_post(logged_in, f"/users/{user_id}", {"role": "auditor", "password": ""})
    assert response.status_code == 422 or response.status_code == 409
    with app.app_context():
        assert db.session.get(AdminUser, user_id).role == "admin"


def test_create_admin_on_the_command_line_with_the_auditor_role(app, runner):
    result = runner.invoke(args=["create-admin", "henry", "--generate", "--role", "auditor"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(AdminUser.role).where(AdminUser.username == "henry")) == "auditor"
