"""REST API /api/v1 (DESIGN §4) against a real database: every status code, and no partial writes."""
from __future__ import annotations

import wave
from datetime import datetime, timezone

import pytest

from callrec.models import Account, Recording, db


@pytest.fixture
def world(api):
    """A customer class, a dialing rule, a customer, a product and an account, created through the API."""
    ids = {}
    ids["class"] = api.post("/api/v1/customer-classes",
                            json={"name": "Business", "notify_new_call_recording": True}).json["id"]
    ids["rule"] = api.post("/api/v1/dialing-rules",
                           json={"name": "Office", "record_start_code": "*71", "record_stop_code": "*72"}).json["id"]
    ids["customer"] = api.post("/api/v1/customers",
                               json={"name": "Acme", "customer_class_id": ids["class"],
                                     "dialing_rule_id": ids["rule"]}).json["id"]
    ids["product"] = api.post("/api/v1/products", json={"name": "Basic", "call_recording": {
        "enabled": True, "auto_record_outgoing": True, "email_delivery": True}}).json["id"]
    response = api.post("/api/v1/accounts", json={"number": "1000", "email": "alice@example.test",
                                                   "customer_id": ids["customer"], "product_id": ids["product"]})
    assert response.status_code == 201, response.json
    ids["account"] = response.json["id"]
    return ids


# ------------------------------------------------------------------------------------------ authentication

@pytest.mark.parametrize("url", ["/api/v1/accounts", "/api/v1/settings", "/api/v1/recordings",
                                 "/api/v1/accounts/1/effective-policy", "/api/v1/nothing-here"])
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic YWRtaW46YWRtaW4="])
def test_requests_without_a_valid_bearer_token_get_401(client, url, header):
    headers = {"Authorization": header} if header else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 401
    assert response.json["error_id"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_stored_hashed_never_in_clear(app, api):
    from callrec.models import ApiToken

    with app.app_context():
        stored = db.session.scalars(db.select(ApiToken.token_hash)).all()
    assert api.token not in stored
    assert ApiToken.hash(api.token) in stored


# ------------------------------------------------------------------------------------------ create / read

def test_create_returns_201_with_the_object(api, world):
    response = api.get(f"/api/v1/accounts/{world['account']}")
    assert response.status_code == 200
    body = response.json
    assert body["number"] == "1000" and body["customer_id"] == world["customer"]
    assert body["override"] is False
    assert set(body["call_recording"]) == {"enabled", "auto_record_outgoing", "auto_record_incoming",
                                           "auto_record_redirected", "manual_control", "announcement",
                                           "email_delivery"}


def test_list_is_paginated(api, world):
    for n in range(3):
        api.post("/api/v1/customer-classes", json={"name": f"Class {n}"})
    page = api.get("/api/v1/customer-classes?per_page=2&page=2").json
    assert page["total"] == 4 and page["page"] == 2 and len(page["items"]) == 2


def test_unknown_object_is_404(api):
    response = api.get("/api/v1/products/999")
    assert response.status_code == 404
    assert set(response.json) >= {"error", "fields"}


def test_malformed_json_body_is_422(api):
    response = api.client.post("/api/v1/products", data="{not json",
                               headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"})
    assert response.status_code == 422


# ------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "R", "record_start_code": "*4a", "record_stop_code": "*45"}, "record_start_code"),
    ({"name": "R", "record_start_code": "*44", "record_stop_code": "*44"}, "record_stop_code"),
    ({"name": "R", "record_start_code": "*4", "record_stop_code": "*45"}, "record_stop_code"),
    ({"name": "R", "record_start_code": "123456789", "record_stop_code": "*45"}, "record_start_code"),
    ({"name": "", "record_start_code": "*1", "record_stop_code": "*2"}, "name"),
    ({"name": "R", "record_start_code": "*1"}, "record_stop_code"),
    ({"name": "R", "record_start_code": "*1", "record_stop_code": "*2", "colour": "red"}, "colour"),
])
def test_bad_dialing_rules_get_422_with_per_field_errors(api, payload, field):
    response = api.post("/api/v1/dialing-rules", json=payload)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert api.get("/api/v1/dialing-rules").json["total"] == 0


@pytest.mark.parametrize(("changes", "field"), [
    ({"customer_id": 999}, "customer_id"),
    ({"product_id": 999}, "product_id"),
    ({"dialing_rule_id": 999}, "dialing_rule_id"),
    ({"email": "not-an-email"}, "email"),
    ({"number": "10 00"}, "number"),
    ({"override": "yes"}, "override"),
    ({"call_recording": {"enabled": 1}}, "call_recording.enabled"),
    ({"call_recording": {"record_everything": True}}, "call_recording.record_everything"),
])
def test_bad_accounts_get_422_and_nothing_is_created(api, world, changes, field):
    payload = {"number": "2000", "customer_id": world["customer"], "product_id": world["product"], **changes}
    response = api.post("/api/v1/accounts", json=payload)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert api.get("/api/v1/accounts").json["total"] == 1


def test_customer_with_unknown_class_is_422(api):
    response = api.post("/api/v1/customers", json={"name": "X", "customer_class_id": 42})
    assert response.status_code == 422 and "customer_class_id" in response.json["fields"]


def test_duplicate_account_number_is_409(api, world):
    response = api.post("/api/v1/accounts", json={"number": "1000", "customer_id": world["customer"],
                                                   "product_id": world["product"]})
    assert response.status_code == 409
    assert "number" in response.json["fields"]
    assert api.get("/api/v1/accounts").json["total"] == 1


def test_a_failed_update_changes_nothing(api, world):
    url = f"/api/v1/accounts/{world['account']}"
    before = api.get(url).json
    response = api.patch(url, json={"email": "new@example.test", "override": True,
                                    "call_recording": {"enabled": True}, "product_id": 999})
    assert response.status_code == 422
    assert api.get(url).json == before


def test_partial_update_keeps_other_fields(api, world):
    url = f"/api/v1/accounts/{world['account']}"
    response = api.patch(url, json={"override": True, "call_recording": {"enabled": True,
                                                                          "auto_record_incoming": True}})
    assert response.status_code == 200
    body = response.json
    assert body["override"] is True and body["email"] == "alice@example.test"
    assert body["call_recording"]["auto_record_incoming"] is True


def test_updating_one_code_is_checked_against_the_other(api, world):
    response = api.patch(f"/api/v1/dialing-rules/{world['rule']}", json={"record_start_code": "*72"})
    assert response.status_code == 422 and "record_stop_code" in response.json["fields"]


# ------------------------------------------------------------------------------------------ delete

@pytest.mark.parametrize("resource", ["products", "customers", "customer-classes", "dialing-rules"])
def test_deleting_an_object_in_use_is_409_and_deletes_nothing(api, world, resource):
    key = {"products": "product", "customers": "customer", "customer-classes": "class",
           "dialing-rules": "rule"}[resource]
    response = api.delete(f"/api/v1/{resource}/{world[key]}")
    assert response.status_code == 409
    assert "still used" in response.json["error"]
    assert api.get(f"/api/v1/{resource}/{world[key]}").status_code == 200


def test_deleting_an_unused_object_is_204(api, world):
    assert api.delete(f"/api/v1/accounts/{world['account']}").status_code == 204
    assert api.delete(f"/api/v1/products/{world['product']}").status_code == 204
    assert api.get(f"/api/v1/products/{world['product']}").status_code == 404


# ------------------------------------------------------------------------------------------ effective policy

def test_effective_policy_names_where_every_value_came_from(api, world):
    body = api.get(f"/api/v1/accounts/{world['account']}/effective-policy").json
    assert body["call_recording"]["auto_record_outgoing"] == {
        "value": True, "source": {"kind": "product", "name": "Basic", "description": "product Basic"}}
    assert body["codes"]["record_start_code"] == "*71"
    assert body["codes"]["source"]["description"] == "dialing rule Office, assigned to the customer"
    # RecordsDelivery.Enabled is off by default: no recipient, and the reason says so
    assert body["email"]["recipient"] is None
    assert body["email"]["blocked_by"] == "records_delivery_disabled"


def test_effective_policy_follows_override_and_settings(api, world):
    account_url = f"/api/v1/accounts/{world['account']}"
    api.patch(account_url, json={"override": True, "call_recording": {
        "enabled": True, "auto_record_incoming": True, "email_delivery": True}})
    api.patch("/api/v1/settings", json={"records_delivery_enabled": True})
    body = api.get(account_url + "/effective-policy").json
    assert body["call_recording"]["auto_record_outgoing"]["value"] is False
    assert body["call_recording"]["auto_record_incoming"]["source"]["kind"] == "account"
    assert body["email"]["recipient"] == "alice@example.test"


# ------------------------------------------------------------------------------------------ settings

def test_settings_have_the_platform_defaults(api):
    body = api.get("/api/v1/settings").json
    assert body["records_delivery_enabled"] is False
    assert (body["record_start_code"], body["record_stop_code"]) == ("*44", "*45")
    assert body["voicemail_numbers"] == ["*98", "vmain", "4000"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"record_start_code": "*45"}, "record_stop_code"),
    ({"records_delivery_enabled": "Yes"}, "records_delivery_enabled"),
    ({"voicemail_numbers": "*98"}, "voicemail_numbers"),
    ({"min_recording_seconds": -1}, "min_recording_seconds"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"record_sample_rate": 44100}, "record_sample_rate"),
])
def test_bad_settings_are_422_and_change_nothing(api, payload, field):
    before = api.get("/api/v1/settings").json
    response = api.patch("/api/v1/settings", json={"records_delivery_enabled": True, **payload})
    assert response.status_code == 422 and field in response.json["fields"]
    assert api.get("/api/v1/settings").json == before


def test_settings_patch_returns_the_new_values(api):
    body = api.patch("/api/v1/settings", json={"records_delivery_enabled": True,
                                               "voicemail_numbers": ["*98", "500"]}).json
    assert body["records_delivery_enabled"] is True and body["voicemail_numbers"] == ["*98", "500"]


# ------------------------------------------------------------------------------------------ recordings

def _write_wav(path, seconds=1.0, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))


@pytest.fixture
def recording(app, world):
    path = app.config["RECORDINGS_DIR"] + "/2026/11/25/call-1_1000.wav"
    from pathlib import Path

    _write_wav(Path(path))
    with app.app_context():
        rec = Recording(call_uuid="call-1", leg_uuid="leg-1", account_id=world["account"], account_number="1000",
                        direction="outgoing", trigger="auto", caller="1000", callee="1001",
                        started_at=datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc), file_path=path,
                        status="completed", duration_seconds=1.0)
        db.session.add(rec)
        db.session.commit()
        return rec.id


def test_recordings_list_filters(api, recording):
    assert api.get("/api/v1/recordings?direction=outgoing").json["total"] == 1
    assert api.get("/api/v1/recordings?direction=incoming").json["total"] == 0
    assert api.get("/api/v1/recordings?since=2026-11-26").json["total"] == 0
    assert api.get("/api/v1/recordings?until=2026-11-26").json["total"] == 1
    assert api.get("/api/v1/recordings?direction=sideways").status_code == 422


def test_recording_audio_supports_range_requests(api, recording):
    full = api.get(f"/api/v1/recordings/{recording}/audio")
    part = api.get(f"/api/v1/recordings/{recording}/audio", headers={"Range": "bytes=0-99"})
    full_data, part_data = full.get_data(), part.get_data()
    full.close()
    part.close()
    assert full.status_code == 200 and full.mimetype == "audio/wav"
    assert part.status_code == 206 and part_data == full_data[:100]


def test_recording_audio_outside_the_recordings_dir_is_404(app, api, recording, tmp_path):
    outside = tmp_path / "secret.wav"
    _write_wav(outside)
    with app.app_context():
        db.session.get(Recording, recording).file_path = app.config["RECORDINGS_DIR"] + "/../secret.wav"
        db.session.commit()
    assert api.get(f"/api/v1/recordings/{recording}/audio").status_code == 404


def test_deleting_a_recording_removes_its_file(app, api, recording):
    with app.app_context():
        path = db.session.get(Recording, recording).file_path
    assert api.delete(f"/api/v1/recordings/{recording}").status_code == 204
    assert api.get(f"/api/v1/recordings/{recording}").status_code == 404
    import os

    assert not os.path.exists(path)


def test_deleting_an_account_keeps_its_recordings(app, api, world, recording):
    assert api.delete(f"/api/v1/accounts/{world['account']}").status_code == 204
    body = api.get(f"/api/v1/recordings/{recording}").json
    assert body["account_id"] is None and body["account_number"] == "1000"


def test_policy_changes_bump_the_revision_the_controller_polls(app, api, world):
    from callrec.models import PolicyRevision

    def revision():
        with app.app_context():
            return db.session.get(PolicyRevision, 1).revision

    before = revision()
    api.patch(f"/api/v1/accounts/{world['account']}", json={"email": "x@example.test"})
    after_update = revision()
    api.post("/api/v1/accounts", json={"number": "bad number"})  # rejected: must not bump
    assert after_update > before
    assert revision() == after_update
