"""Security rules of the web UI and the API: login everywhere, CSRF, no path traversal, escaping, cookies."""
from __future__ import annotations

import re

import pytest
from webui_fixtures import (ADMIN_PASSWORD, admin, auth, csrf_token, logged_in, make_recording,  # noqa: F401
                            make_world, write_wav)


def _concrete(rule) -> str:
    """A URL for a rule, with 1 for every id and 'accounts' for the API's resource name."""
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(r"<[^>]*%s>" % arg, "accounts" if arg == "resource" else "1", url)
    return url


def _page_rules(app):
    from webui.views import PUBLIC_ENDPOINTS

    return [r for r in app.url_map.iter_rules()
            if r.endpoint not in PUBLIC_ENDPOINTS and not r.endpoint.startswith("api.")]


def test_only_the_login_page_static_files_and_signed_downloads_are_public(app):
    from webui.views import PUBLIC_ENDPOINTS

    # A new public page must be a decision: add it here, with the reason.
    assert PUBLIC_ENDPOINTS <= {"auth.login", "static", "download.recording"}  # signed, expiring email links


def test_every_page_redirects_to_login_without_a_session(app, client):
    rules = _page_rules(app)
    assert len(rules) >= 25
    token = csrf_token(client, "/login")
    for rule in rules:
        url = _concrete(rule)
        if "GET" in rule.methods:
            response = client.get(url)
        else:  # POST-only pages: a valid CSRF token, so the login check is what answers
            response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url


PUBLIC_API_ROUTES = {"/api/v1/openapi.json"}  # the API's description holds no data (docs/webui.md)


def test_every_api_route_answers_401_without_a_token(app, client):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("api.") and r.rule not in PUBLIC_API_ROUTES]
    assert rules
    for rule in rules:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(_concrete(rule), method=method, json={})
            assert response.status_code == 401, (method, rule.rule)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


FORMS = [
    ("/customer-classes/new", {"name": "X"}),
    ("/dialing-rules/new", {"name": "X", "record_start_code": "*1", "record_stop_code": "*2"}),
    ("/customers/new", {"name": "X"}),
    ("/products/new", {"name": "X"}),
    ("/accounts/new", {"number": "1001"}),
    ("/settings/", {"retention_days": "1"}),
    ("/logout", {}),
]


@pytest.mark.parametrize(("url", "data"), FORMS)
def test_form_post_without_csrf_token_is_rejected(app, logged_in, url, data):
    from callrec.models import CustomerClass, Product, db

    response = logged_in.post(url, data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(CustomerClass)) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(Product)) == 0


def test_login_post_without_csrf_token_is_rejected(client, admin):
    response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert "session" not in response.headers.get("Set-Cookie", "") or "_user_id" not in str(response.headers)
    assert client.get("/").status_code == 302


def test_delete_and_send_again_without_csrf_token_are_rejected(app, logged_in):
    ids = make_world(app)
    wav = write_wav(_wav_path(app, "a.wav"))
    rec = make_recording(app, ids["account"], str(wav))
    for url in (f"/accounts/{ids['account']}/delete", f"/recordings/{rec}/delete", f"/recordings/{rec}/send-again"):
        assert logged_in.post(url).status_code == 400, url
    assert logged_in.get(f"/accounts/{ids['account']}").status_code == 200
    assert wav.is_file()


def _wav_path(app, name):
    from pathlib import Path

    return Path(app.config["RECORDINGS_DIR"]) / name


def test_audio_route_serves_ranges(app, logged_in):
    ids = make_world(app)
    wav = write_wav(_wav_path(app, "call.wav"))
    rec = make_recording(app, ids["account"], str(wav))
    with logged_in.get(f"/recordings/{rec}/audio") as full:
        assert full.status_code == 200 and full.mimetype == "audio/wav"
        assert full.headers["Accept-Ranges"] == "bytes"
        assert full.data == wav.read_bytes()
    with logged_in.get(f"/recordings/{rec}/audio", headers={"Range": "bytes=0-99"}) as part:
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 0-99/{wav.stat().st_size}"
        assert part.data == wav.read_bytes()[:100]


@pytest.mark.parametrize("url", [
    "/recordings/999/audio",  # another (non-existent) recording's id
    "/recordings/999",
    "/recordings/..%2f..%2fetc%2fpasswd/audio",
    "/recordings/1/audio/../../../../etc/passwd",
    "/recordings/-1/audio",
])
def test_audio_route_rejects_unknown_ids_and_traversal_urls(app, logged_in, url):
    ids = make_world(app)
    make_recording(app, ids["account"], str(write_wav(_wav_path(app, "one.wav"))))
    response = logged_in.get(url)
    assert response.status_code == 404
    assert b"RIFF" not in response.data


@pytest.mark.parametrize("file_path", [
    "{dir}/../outside.wav",
    "/etc/passwd",
    "{dir}/../../../../../../etc/passwd",
    "{dir}/link.wav",  # a symlink pointing out of the recordings directory
    "{dir}/missing.wav",
])
def test_audio_route_never_serves_files_outside_the_recordings_directory(app, logged_in, tmp_path, file_path):
    recordings = app.config["RECORDINGS_DIR"]
    outside = write_wav(tmp_path / "outside.wav")
    (tmp_path / "recordings" / "link.wav").symlink_to(outside)
    ids = make_world(app)
    rec = make_recording(app, ids["account"], file_path.format(dir=recordings))
    assert logged_in.get(f"/recordings/{rec}/audio").status_code == 404
    assert logged_in.get(f"/recordings/{rec}/audio?download=1").status_code == 404
    assert logged_in.get(f"/recordings/{rec}").status_code == 200  # the page says the file is not available


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(("kind", "list_url"), [
    ("customer_class", "/customer-classes/"),
    ("dialing_rule", "/dialing-rules/"),
    ("customer", "/customers/"),
    ("product", "/products/"),
    ("account", "/accounts/"),
])
def test_xss_payload_in_a_name_is_shown_escaped(app, logged_in, kind, list_url):
    from callrec import services
    from callrec.models import Account, Customer, CustomerClass, DialingRule, Product

    ids = make_world(app)
    with app.app_context():
        if kind == "customer_class":
            obj = services.update(services.get(CustomerClass, ids["customer_class"]), {"name": XSS})
        elif kind == "dialing_rule":
            obj = services.create(DialingRule, {"name": XSS, "record_start_code": "*1", "record_stop_code": "*2"})
        elif kind == "customer":
            obj = services.update(services.get(Customer, ids["customer"]), {"name": XSS})
        elif kind == "product":
            obj = services.update(services.get(Product, ids["product"]), {"name": XSS})
        else:
            obj = services.update(services.get(Account, ids["account"]), {"name": XSS})
        object_id = obj.id
    pages = [list_url, f"{list_url}{object_id}", f"{list_url}{object_id}/delete", "/accounts/",
             f"/accounts/{ids['account']}", f"/customers/{ids['customer']}", "/recordings/"]
    for url in pages:
        html = logged_in.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;alert(" in logged_in.get(list_url).get_data(as_text=True)


def test_xss_payload_in_search_and_filters_is_escaped(logged_in):
    html = logged_in.get("/accounts/", query_string={"q": XSS}).get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    html = logged_in.get("/recordings/", query_string={"date_from": XSS}).get_data(as_text=True)
    assert "<script>alert" not in html


def test_pages_send_a_content_security_policy_without_inline_script(logged_in):
    response = logged_in.get("/accounts/new")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client, auth):
    response = auth.login()
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies
    assert "HttpOnly" in cookies[-1]
    assert "SameSite=Lax" in cookies[-1]


def test_failed_logins_throttle_the_address_for_that_user_for_a_while(app, client, auth):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        response = auth.login(password="wrong")
        assert response.status_code == 401
        assert "Unknown user or wrong password." in response.get_data(as_text=True)
    # Throttled: even the right password is refused from this address until the lock runs out.
    response = auth.login()
    assert response.status_code == 429
    assert "try again in 15 minute(s)" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    throttle = app.extensions["callrec_login_throttle"]
    now = throttle.clock()
    throttle.clock = lambda: now + 15 * 60
    assert auth.login().status_code == 302
    assert client.get("/").status_code == 200


def test_unknown_user_gets_the_same_message_as_a_wrong_password(client, auth):
    response = auth.login(username="nobody", password="x")
    assert response.status_code == 401
    assert "Unknown user or wrong password." in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_to_another_site(client, admin, target):
    token = csrf_token(client, "/login")
    response = client.post("/login", query_string={"next": target},
                           data={"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_a_local_next(client, admin):
    token = csrf_token(client, "/login")
    response = client.post("/login?next=/accounts/", data={"csrf_token": token, "username": "admin",
                                                           "password": ADMIN_PASSWORD})
    assert response.headers["Location"] == "/accounts/"


def test_logout_needs_a_post_and_ends_the_session(logged_in, auth):
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.get("/").status_code == 200
    response = auth.logout()
    assert response.status_code == 302
    assert logged_in.get("/").status_code == 302
