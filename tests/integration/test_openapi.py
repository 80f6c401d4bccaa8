"""The OpenAPI 3.1 document at /api/v1/openapi.json (issue 13 item 7): public, complete, true to the routes.

The fuzz that checks every answer against it is test_openapi_fuzz.py.
"""
from __future__ import annotations

import re

import jsonschema_rs
import pytest

from webui import openapi
from webui.api import RESOURCES

DOC = "/api/v1/openapi.json"


def _document(client) -> dict:
    response = client.get(DOC)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def _api_routes(app) -> set[tuple[str, str]]:
    """(path, method) for every rule of the api blueprint in the url_map, `<resource>` once per resource."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        assert rule.endpoint.startswith("api."), rule  # nothing else is mounted under /api/v1
        path = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for segment in RESOURCES if "{resource}" in path else [None]:
                found.add((path.replace("{resource}", segment) if segment else path, method.lower()))
    return found


def test_the_document_is_public_openapi_3_1_with_bearer_auth(client):
    doc = _document(client)  # no Authorization header
    assert doc["openapi"].startswith("3.1.")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "A token from `create-token`."}
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"][DOC]["get"]["security"] == []  # reading the document needs no token
    secured = [op for path, ops in doc["paths"].items() if path != DOC for op in ops.values()]
    assert secured and all("security" not in op and "401" in op["responses"] for op in secured)


def test_a_bearer_token_does_no_harm(api, client):
    assert api.get(DOC).json == _document(client)


def test_every_api_route_is_documented_and_every_documented_operation_is_routed(app, client):
    doc = _document(client)
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _api_routes(app)
    adapter = app.url_map.bind("localhost")
    for path, method in documented:
        endpoint, args = adapter.match(path.replace("{object_id}", "1"), method.upper())
        assert endpoint.startswith("api."), (path, method)
        # A generic /<resource> route is documented only for real resources (not /settings, /recordings).
        assert args.get("resource", next(iter(RESOURCES))) in RESOURCES, (path, method)


def test_a_route_without_a_hand_written_operation_breaks_the_document(app):
    app.add_url_rule("/api/v1/undocumented", endpoint="api.undocumented", view_func=lambda: "")
    with pytest.raises(KeyError, match="api.undocumented"):
        openapi.build(app)


def test_request_bodies_name_the_fields_the_services_accept(client):
    from callrec import services
    from callrec.models import Account, Customer, CustomerClass, DialingRule, Product, Settings

    schemas = _document(client)["components"]["schemas"]
    for model, name in ((CustomerClass, "CustomerClass"), (DialingRule, "DialingRule"), (Customer, "Customer"),
                        (Product, "Product"), (Account, "Account")):
        create = schemas[name + "Create"]
        expected = set(services.FIELDS[model]) | ({"call_recording"} if model in services.HAS_CONFIG else set())
        assert set(create["properties"]) == expected, name
        assert set(create["required"]) == set(services.REQUIRED[model]), name
        assert create["additionalProperties"] is False  # unknown fields are 422
        assert set(schemas[name + "Update"]["properties"]) == expected | {"id"}
        assert set(schemas[name]["required"]) == expected | {"id"}
    assert set(schemas["SettingsUpdate"]["properties"]) == set(services.FIELDS[Settings])


def _validator(doc: dict, name: str):
    return jsonschema_rs.Draft202012Validator({**doc["components"]["schemas"][name],
                                               "$defs": {}, "components": doc["components"]})


@pytest.mark.parametrize("method, url, status", [
    ("get", "/api/v1/accounts", 401),
    ("get", "/api/v1/products/999", 404),
    ("get", "/api/v1/accounts/abc", 404),
    ("put", "/api/v1/settings", 405),
    ("delete", "/api/v1/settings", 405),
    ("post", "/api/v1/customer-classes", 422),
])
def test_error_answers_match_the_documented_error_body(app, api, client, method, url, status):
    doc = _document(client)
    headers = {} if status == 401 else {"Authorization": f"Bearer {api.token}"}
    response = client.open(url, method=method.upper(), headers=headers,
                           **({"json": {"name": ""}} if method == "post" else {}))
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert _validator(doc, "Error").is_valid(response.json), response.json
    assert doc["components"]["responses"][f"E{status}"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}


def test_a_created_object_matches_its_documented_schema(api, client):
    doc = _document(client)
    response = api.post("/api/v1/products", json={"name": "Basic", "call_recording": {"enabled": True}})
    assert response.status_code == 201
    assert "201" in doc["paths"]["/api/v1/products"]["post"]["responses"]
    assert _validator(doc, "Product").is_valid(response.json)
    assert not _validator(doc, "Product").is_valid({**response.json, "extra": 1})  # the schema is strict
    assert _validator(doc, "Settings").is_valid(api.get("/api/v1/settings").json)


# ------------------------------------------------------------------------------------------ found by the fuzz

@pytest.mark.parametrize(("method", "url", "body", "field"), [
    # JSON null for an email passed the rule ("no address") and hit the NOT NULL column: 409, nothing said why.
    ("patch", "/api/v1/settings", {"mail_sender": None, "record_start_code": "3"}, "mail_sender"),
    ("patch", "/api/v1/accounts/{account}", {"email": None}, "email"),
    ("post", "/api/v1/accounts", {"number": "2000", "email": None}, "email"),
])
def test_a_null_email_is_422_naming_the_field_not_a_conflict(app, api, method, url, body, field):
    from webui_fixtures import make_world

    world = make_world(app)
    if method == "post":
        body = {**body, "customer_id": world["customer"], "product_id": world["product"]}
    before = api.get("/api/v1/settings").json
    response = getattr(api, method)(url.format(account=world["account"]), json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["fields"]
    assert api.get("/api/v1/settings").json == before  # nothing changed


def test_every_write_operation_documents_the_403_of_a_read_token_and_reads_do_not(client):
    doc = _document(client)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert ("403" in operation["responses"]) == (method in ("post", "patch", "put", "delete")), (path, method)


def test_the_403_of_a_read_token_and_the_401_of_an_expired_one_match_the_error_body(app, client):
    from datetime import timedelta

    from callrec.models import ApiToken, db, utcnow

    doc = _document(client)
    with app.app_context():
        read_row, read = ApiToken.issue("r", scope="read")
        old_row, old = ApiToken.issue("o", expires_at=utcnow() - timedelta(days=1))
        db.session.add_all([read_row, old_row])
        db.session.commit()
    for token, method, status in ((read, "DELETE", 403), (old, "GET", 401)):
        response = client.open("/api/v1/accounts/1", method=method, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status
        assert _validator(doc, "Error").is_valid(response.json), response.json


def test_the_audit_trail_is_a_documented_operation(app, api, client):
    doc = _document(client)
    operation = doc["paths"]["/api/v1/audit"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"actor", "action", "object_type", "since", "until"}
    api.post("/api/v1/customer-classes", json={"name": "Gold"})
    answer = api.get("/api/v1/audit").json
    assert answer["total"] == 1
    assert _validator(doc, "AuditEventPage").is_valid(answer), answer
