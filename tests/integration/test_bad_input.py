"""Bad input never answers 500: ids, pages and dates beyond range, unstorable text, odd JSON, odd methods.

Each row is one request an attacker or a fuzzer sent (issue 13, item 6) and the status it must get. The rules
live in callrec.validation / callrec.services, so the API and the web forms get the same answer.
"""
from __future__ import annotations

import json

import pytest
from webui_fixtures import (ADMIN_PASSWORD, admin, auth, csrf_token, field_error, form_post, logged_in,  # noqa: F401
                            make_world, text_of)

HUGE = "99999999999999999999"
JUST_PAST = "2147483648"  # PostgreSQL's integer + 1
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture
def world(app):
    return make_world(app)


def _nested(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


# (method, url, JSON body or raw text, expected status, field the 422 must name)
API_CASES = [
    ("GET", f"/api/v1/accounts/{HUGE}", None, 404, None),
    ("GET", f"/api/v1/customers/{JUST_PAST}", None, 404, None),
    ("PATCH", f"/api/v1/products/{HUGE}", {"name": "x"}, 404, None),
    ("DELETE", f"/api/v1/customer-classes/{HUGE}", None, 404, None),
    ("GET", f"/api/v1/accounts/{HUGE}/effective-policy", None, 404, None),
    ("GET", f"/api/v1/recordings/{HUGE}", None, 404, None),
    ("GET", f"/api/v1/recordings/{HUGE}/audio", None, 404, None),
    ("GET", "/api/v1/accounts/-1", None, 404, None),
    ("GET", "/api/v1/accounts/abc", None, 404, None),
    ("GET", "/api/v1/no/such/thing", None, 404, None),
    ("PUT", "/api/v1/accounts/1", {"name": "x"}, 405, None),
    ("POST", "/api/v1/settings", {}, 404, None),  # /<resource> has POST; "settings" is no collection
    ("DELETE", "/api/v1/settings", None, 405, None),
    ("DELETE", "/api/v1/accounts", None, 405, None),
    ("GET", f"/api/v1/accounts?page={HUGE}", None, 422, "page"),
    ("GET", "/api/v1/recordings?page=100000000", None, 422, "page"),
    ("GET", f"/api/v1/recordings?page=2&per_page={HUGE}", None, 200, None),  # per_page is clamped to 500
    ("GET", "/api/v1/recordings?since=9999-12-31T23:59:59-05:00", None, 422, "filter"),
    ("GET", "/api/v1/recordings?until=0001-01-01T00:00:00%2B05:00", None, 422, "filter"),
    ("GET", "/api/v1/recordings?since=9999-12-31T23:59:59", None, 200, None),  # naive is UTC: representable
    ("GET", f"/api/v1/recordings?account_id={HUGE}", None, 422, "filter"),
    ("GET", "/api/v1/recordings?account_id=%C2%B2", None, 422, "filter"),  # '²' is a digit to str.isdigit
    ("GET", "/api/v1/recordings?call_uuid=a%00b", None, 422, "filter"),
    ("POST", "/api/v1/customer-classes", {"name": "\ud800"}, 422, "name"),
    ("POST", "/api/v1/customer-classes", {"name": "a\x00b"}, 422, "name"),
    ("POST", "/api/v1/dialing-rules", {"name": "R", "record_start_code": "*1\x00", "record_stop_code": "*2"},
     422, "record_start_code"),
    ("POST", "/api/v1/customer-classes", {"name": "x", "bogus": 1}, 422, "bogus"),
    ("POST", "/api/v1/customer-classes", {"name": "x", "id": 7}, 422, "id"),
    ("POST", "/api/v1/customers", {"name": "x", "customer_class_id": int(HUGE)}, 422, "customer_class_id"),
    ("PATCH", "/api/v1/settings", {"voicemail_numbers": ["123456789"] * 60}, 422, "voicemail_numbers"),
    ("PATCH", "/api/v1/settings", {"retention_days": 1, "colour": "red"}, 422, "colour"),
    ("PATCH", "/api/v1/settings", {"mail_sender": "a,evil@evil.example"}, 422, "mail_sender"),
    ("POST", "/api/v1/customer-classes", DEEP, 422, None),
    ("POST", "/api/v1/customer-classes", _nested(200), 422, "name"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "field"), API_CASES,
                         ids=[f"{c[0]} {c[1][:60]} {str(c[2])[:30]}" for c in API_CASES])
def test_api_answers_bad_input_with_a_json_error_never_500(api, method, url, body, status, field):
    kw = {"data": body, "content_type": "application/json"} if isinstance(body, str) else \
        ({"json": body} if body is not None else {})
    response = api.client.open(url, method=method, headers=api._headers(), **kw)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.is_json, response.get_data(as_text=True)[:200]
    if status >= 400:
        assert set(response.json) == {"error", "error_id", "fields"}
    if field:
        assert field in response.json["fields"], response.json


@pytest.mark.parametrize("email", ["a,evil@evil.example", "x<evil@evil.example>", "X <x@example.com>",
                                   '"X" <x@example.com>', "x@example.com\r\nBcc: evil@evil.example",
                                   "x@example.com evil@evil.example"])
def test_an_account_email_is_exactly_one_plain_address(api, world, email):
    response = api.patch(f"/api/v1/accounts/{world['account']}", json={"email": email})
    assert response.status_code == 422
    assert "email" in response.json["fields"]
    assert api.get(f"/api/v1/accounts/{world['account']}").json["email"] == "a@example.com"


def test_a_patch_may_send_back_the_object_it_got(api, world):
    url = f"/api/v1/accounts/{world['account']}"
    got = api.get(url).json
    assert api.patch(url, json=got).status_code == 200
    assert api.patch(url, json={**got, "id": got["id"] + 1}).status_code == 422


def test_api_routing_errors_without_a_token_are_json_too(client):
    for method, url in (("GET", "/api/v1/accounts/abc"), ("PUT", "/api/v1/accounts/1"), ("GET", "/api/v1")):
        response = client.open(url, method=method)
        assert response.status_code in (404, 405), url
        assert response.is_json and "error_id" in response.json, url
        assert "login" not in response.headers.get("Location", "")


def test_wrong_method_under_the_api_names_the_allowed_ones(api):
    response = api.client.put("/api/v1/settings", headers=api._headers(), json={})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PATCH"}


# --------------------------------------------------------------------------------------------- web pages

WEB_CASES = [
    (f"/accounts/{HUGE}", 404),
    (f"/customers/{JUST_PAST}/delete", 404),
    (f"/recordings/{HUGE}", 404),
    (f"/recordings/{HUGE}/audio", 404),
    (f"/accounts/?page={HUGE}", 200),  # clamped: the last page
    ("/accounts/?page=%C2%B2", 200),
    ("/accounts/?q=a%00b", 422),
    ("/recordings/?date_to=9999-12-31", 422),
    ("/recordings/?date_from=0001-01-01", 422),  # with the settings' zone east of UTC
    ("/recordings/?account_id=%C2%B2", 422),
    (f"/recordings/?account_id={HUGE}", 422),
    ("/recordings/?status=%00", 422),
    (f"/recordings/?page={HUGE}", 200),
]


@pytest.mark.parametrize(("url", "status"), WEB_CASES)
def test_web_pages_answer_bad_input_with_404_or_422_in_the_sites_layout(app, logged_in, url, status):
    from callrec import services

    with app.app_context():
        services.update_settings({"time_zone": "Asia/Tokyo"})
    response = logged_in.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert 'class="top"' in response.get_data(as_text=True)  # the site's header: its layout


@pytest.mark.parametrize(("data", "field"), [
    ({"email": "a,evil@evil.example"}, "email"),
    ({"email": "x<evil@evil.example>"}, "email"),
    ({"name": "a\x00b"}, "name"),
    ({"customer_id": "\u00b2"}, "customer_id"),
    ({"customer_id": HUGE}, "customer_id"),
])
def test_account_form_refuses_what_the_api_refuses(app, logged_in, world, data, field):
    url = f"/accounts/{world['account']}"
    form = {"number": "1001", "customer_id": str(world["customer"]), "product_id": str(world["product"]), **data}
    response = form_post(logged_in, url, form)
    assert response.status_code == 422
    assert field_error(response, field)


def test_settings_form_refuses_a_voicemail_list_longer_than_its_column(logged_in):
    response = form_post(logged_in, "/settings/", {"voicemail_numbers": " ".join(["123456789"] * 60),
                                                   "record_start_code": "*44", "record_stop_code": "*45"})
    assert response.status_code == 422
    assert field_error(response, "voicemail_numbers")


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:%20x=1", "/%0aLocation:%20https://evil.example",
                                    "/%09/evil.example", "/accounts/%00"])
def test_a_login_next_with_control_characters_is_ignored(client, admin, target):
    token = csrf_token(client, "/login")
    response = client.post(f"/login?next={target}",
                           data={"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert not any(c.startswith("x=") for c in response.headers.getlist("Set-Cookie"))


def test_the_500_page_uses_the_sites_layout(app, logged_in):
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.view_functions["dashboard.index"] = boom
    response = logged_in.get("/")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert 'class="top"' in body and "callrec.css" in body
    assert "boom" not in body


def test_a_500_under_the_api_is_the_json_error_body(app, api):
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.view_functions["api.get_settings_view"] = boom
    response = api.get("/api/v1/settings")
    assert response.status_code == 500
    assert response.is_json and response.json["error_id"] == "internal-server-error"
    assert "boom" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/", "/accounts/", "/settings/", "/recordings/"])
def test_authenticated_pages_are_not_stored_by_caches(logged_in, url):
    assert logged_in.get(url).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", ["/api/v1/settings", "/api/v1/accounts", "/api/v1/accounts/abc"])
def test_api_answers_are_not_stored_by_caches(api, url):
    assert "no-store" in api.get(url).headers["Cache-Control"]


def test_nothing_under_the_api_answers_html(app, api):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")]
    for rule in rules:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            url = rule.rule.replace("<resource>", "accounts").replace("<int:object_id>", HUGE)
            response = api.client.open(url, method=method, headers=api._headers(), data=json.dumps({}),
                                       content_type="application/json")
            assert response.status_code < 500, (method, url)
            if response.status_code != 204:
                assert response.is_json, (method, url, response.status_code)
