"""The audit trail (issue 13 item 5): who changed, played, downloaded, deleted or re-sent what, tokens, logins.

Written by callrec.services in the change's own transaction, so the web UI, the API and the command line all
leave the same trail, and a refused change leaves none.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from webui_fixtures import (ADMIN_NAME, admin, auth, form_post, logged_in, make_recording, make_world,  # noqa: F401
                            text_of, write_wav)

from callrec.audit import audit_cutoff
from callrec.models import AuditEvent, Delivery, db, utcnow


def _events(app, **where) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        events = db.session.scalars(query).all()
        db.session.expunge_all()
        return events


def _changes(event: AuditEvent) -> dict:
    return json.loads(event.changes) if event.changes else {}


# (API resource, audit object type, create payload, a field to change, its new value)
OBJECTS = [
    ("customer-classes", "customer_class", {"name": "Gold"}, "name", "Platinum"),
    ("dialing-rules", "dialing_rule", {"name": "R", "record_start_code": "*1", "record_stop_code": "*2"},
     "record_start_code", "*7"),
    ("products", "product", {"name": "Basic"}, "name", "Premium"),
]


@pytest.mark.parametrize("resource, object_type, payload, field, value", OBJECTS)
def test_an_api_change_is_audited_with_who_and_before_after(app, api, resource, object_type, payload, field, value):
    created = api.post(f"/api/v1/{resource}", json=payload).json
    assert api.patch(f"/api/v1/{resource}/{created['id']}", json={field: value}).status_code == 200
    assert api.delete(f"/api/v1/{resource}/{created['id']}").status_code == 204
    create, update, delete = _events(app, object_type=object_type)
    assert [e.action for e in (create, update, delete)] == ["create", "update", "delete"]
    assert {e.actor for e in (create, update, delete)} == {"token tests #1"}
    assert {e.object_id for e in (create, update, delete)} == {created["id"]}
    assert _changes(update) == {field: [payload[field], value]}
    assert _changes(create)[field] == [None, payload[field]]
    assert _changes(delete)[field] == [value, None]


def test_a_web_change_of_an_account_names_the_admin_and_the_flag_that_changed(app, logged_in):
    world = make_world(app)
    response = form_post(logged_in, f"/accounts/{world['account']}", {
        "number": "1001", "name": "", "email": "b@example.com", "customer_id": str(world["customer"]),
        "product_id": str(world["product"]), "dialing_rule_id": "", "override": "y", "config_editable": "1",
        "enabled": "y"})
    assert response.status_code == 302
    (event,) = _events(app, object_type="account", action="update")
    assert event.actor == f"admin {ADMIN_NAME}" and event.object_label == "1001"
    changes = _changes(event)
    assert changes["email"] == ["a@example.com", "b@example.com"]
    assert changes["override"] == [False, True]
    assert changes["call_recording.enabled"] == [False, True]


def test_a_settings_change_is_audited_and_an_unchanged_save_is_not(app, api):
    api.patch("/api/v1/settings", json={"retention_days": 30})
    api.patch("/api/v1/settings", json={"retention_days": 30})
    (event,) = _events(app, object_type="settings")
    assert _changes(event) == {"retention_days": [90, 30]}


def test_a_refused_change_leaves_no_audit_event(app, api):
    assert api.post("/api/v1/customer-classes", json={"name": ""}).status_code == 422
    assert api.patch("/api/v1/settings", json={"retention_days": -1}).status_code == 422
    assert _events(app) == []


def test_a_customer_change_is_audited_from_the_web(app, logged_in):
    world = make_world(app)
    form_post(logged_in, f"/customers/{world['customer']}", {"name": "Acme Ltd", "customer_class_id":
                                                             str(world["customer_class"]), "dialing_rule_id": ""})
    (event,) = _events(app, object_type="customer", action="update")
    assert _changes(event) == {"name": ["Acme", "Acme Ltd"]}


@pytest.fixture
def recording(app, tmp_path):
    world = make_world(app)
    path = write_wav(tmp_path / "recordings" / "r.wav")
    return make_recording(app, world["account"], str(path)), world


def test_playing_and_downloading_a_recording_is_audited_once_per_play(app, logged_in, recording):
    rec, _ = recording
    with logged_in.get(f"/recordings/{rec}/audio"):
        pass
    with logged_in.get(f"/recordings/{rec}/audio", headers={"Range": "bytes=4000-"}):
        pass  # the player fetching the rest of the same play
    with logged_in.get(f"/recordings/{rec}/audio?download=1"):
        pass
    events = _events(app, object_type="recording")
    assert [(e.action, e.object_id, e.actor) for e in events] == [
        ("play", rec, f"admin {ADMIN_NAME}"), ("download", rec, f"admin {ADMIN_NAME}")]


def test_api_download_and_delete_of_a_recording_are_audited(app, api, recording):
    rec, _ = recording
    with api.get(f"/api/v1/recordings/{rec}/audio"):
        pass
    assert api.delete(f"/api/v1/recordings/{rec}").status_code == 204
    assert [e.action for e in _events(app, object_type="recording")] == ["download", "delete"]
    assert "1001 outgoing call" in _events(app, action="delete")[0].object_label


def test_deleting_and_resending_on_the_web_are_audited(app, logged_in, recording):
    from callrec import services
    from callrec.models import CustomerClass

    rec, world = recording
    with app.app_context():
        services.update_settings({"records_delivery_enabled": True})
        services.update(services.get(CustomerClass, world["customer_class"]), {"notify_new_call_recording": True})
        db.session.add(Delivery(recording_id=rec, status="failed", recipient="a@example.com"))
        db.session.commit()
    form_post(logged_in, f"/recordings/{rec}/send-again", {}, form_url=f"/recordings/{rec}")
    form_post(logged_in, f"/recordings/{rec}/delete", {})
    resend, delete = _events(app, object_type="recording")
    assert (resend.action, _changes(resend)) == ("resend", {"recipient": [None, "a@example.com"]})
    assert delete.action == "delete" and delete.actor == f"admin {ADMIN_NAME}"


def test_tokens_created_and_revoked_are_audited_with_who(app, runner, logged_in):
    runner.invoke(args=["create-token", "billing", "--scope", "read"])
    form_post(logged_in, "/tokens/", {"name": "web", "scope": "write", "lifetime_days": "7"})
    form_post(logged_in, "/tokens/1/revoke", {}, form_url="/tokens/")
    created_cli, created_web, revoked = _events(app, object_type="api_token")
    assert created_cli.action == "token-create" and created_cli.actor.startswith("cli ")
    assert _changes(created_cli)["scope"] == [None, "read"]
    assert (created_web.action, created_web.actor, created_web.object_label) == (
        "token-create", f"admin {ADMIN_NAME}", "web")
    assert (revoked.action, revoked.object_id, revoked.object_label) == ("token-revoke", 1, "billing")


def test_logins_and_failed_logins_are_audited_with_the_address(app, client, auth):
    auth.login(password="wrong")
    auth.login(username="nobody", password="wrong")
    auth.login()
    failed_real, failed_unknown, login = _events(app, object_type="admin_user")
    assert (failed_real.action, failed_real.actor, failed_real.address) == (
        "login-failed", f"admin {ADMIN_NAME}", "127.0.0.1")
    assert (failed_unknown.action, failed_unknown.actor, failed_unknown.object_label) == (
        "login-failed", "unknown user", "")
    assert (login.action, login.actor) == ("login", f"admin {ADMIN_NAME}")


def test_the_audit_api_filters_and_pages(app, api):
    for name in ("A", "B", "C"):
        api.post("/api/v1/customer-classes", json={"name": name})
    api.patch("/api/v1/settings", json={"retention_days": 10})
    answer = api.get("/api/v1/audit", query_string={"object_type": "customer_class", "per_page": 2}).json
    assert answer["total"] == 3 and len(answer["items"]) == 2
    assert [i["object_label"] for i in answer["items"]] == ["C", "B"]  # newest first
    (settings,) = api.get("/api/v1/audit", query_string={"action": "update"}).json["items"]
    assert settings["changes"] == {"retention_days": [90, 10]} and settings["actor"] == "token tests #1"
    future = (utcnow() + timedelta(days=1)).isoformat()
    assert api.get("/api/v1/audit", query_string={"since": future}).json["total"] == 0
    assert api.get("/api/v1/audit", query_string={"actor": "token tests #1"}).json["total"] == 4


@pytest.mark.parametrize("args", [{"action": "hack"}, {"object_type": "x"}, {"object_id": "abc"},
                                  {"since": "yesterday"}, {"actor": "a\x00b"}, {"until": "9999-12-31T23:59:59-05:00"}])
def test_the_audit_api_refuses_a_bad_filter_with_422(api, args):
    response = api.get("/api/v1/audit", query_string=args)
    assert response.status_code == 422 and response.json["fields"]["filter"]


def test_the_audit_api_needs_a_token(client):
    assert client.get("/api/v1/audit").status_code == 401


def test_the_audit_page_filters_by_actor_action_object_and_date(app, api, logged_in):
    api.post("/api/v1/customer-classes", json={"name": "Gold"})
    form_post(logged_in, "/customer-classes/new", {"name": "Silver"})
    page = text_of(logged_in.get("/audit/", query_string={"actor": f"admin {ADMIN_NAME}", "action": "create"}))
    assert "Silver" in page and "Gold" not in page
    today = datetime.now(timezone.utc).date()
    assert "Gold" in text_of(logged_in.get("/audit/", query_string={"date_from": today.isoformat(),
                                                                    "object_type": "customer_class"}))
    tomorrow = (today + timedelta(days=2)).isoformat()
    assert "Gold" not in text_of(logged_in.get("/audit/", query_string={"date_from": tomorrow}))
    assert logged_in.get("/audit/", query_string={"date_from": "not a date"}).status_code == 422
    assert logged_in.get("/audit/", query_string={"action": "hack"}).status_code == 422


def test_the_audit_page_escapes_what_it_shows(app, api, logged_in):
    api.post("/api/v1/customer-classes", json={"name": "<script>x</script>"})
    body = logged_in.get("/audit/").get_data(as_text=True)
    assert "<script>x</script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body


NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("recording_days, audit_days, cutoff_days", [
    (90, 730, 730),
    (90, 30, 90),  # never before the recordings it mentions
    (0, 730, None),  # recordings kept forever: the trail too
    (90, 0, None),  # the trail kept forever
])
def test_the_audit_trail_is_kept_longer_than_recordings(recording_days, audit_days, cutoff_days):
    expected = None if cutoff_days is None else NOW - timedelta(days=cutoff_days)
    assert audit_cutoff(recording_days, audit_days, NOW) == expected


def test_purge_recordings_also_purges_audit_events_past_their_retention(app, runner, api):
    api.patch("/api/v1/settings", json={"retention_days": 10, "audit_retention_days": 20})
    with app.app_context():
        db.session.add_all([AuditEvent(at=utcnow() - timedelta(days=days), actor="x", action="login",
                                       object_type="admin_user", object_label=f"{days}d")
                            for days in (5, 15, 25)])
        db.session.commit()
    result = runner.invoke(args=["purge-recordings"])
    assert "Audit trail: 1 event(s)" in result.output, result.output
    labels = {e.object_label for e in _events(app, actor="x")}
    assert labels == {"5d", "15d"}


def test_the_controllers_retention_run_purges_the_audit_trail_too(app, api):
    import threading

    from callrec.retention import serve

    class OneRun(threading.Event):
        """Stops serve() after its first run (its wait between runs ends the loop), no thread needed."""

        def wait(self, timeout=None):
            self.set()
            return True

    api.patch("/api/v1/settings", json={"retention_days": 10, "audit_retention_days": 20})
    with app.app_context():
        db.session.add_all([AuditEvent(at=utcnow() - timedelta(days=days), actor="x", action="login",
                                       object_type="admin_user", object_label=f"{days}d") for days in (5, 25)])
        db.session.commit()
    serve(app, OneRun(), interval=3600)
    assert {e.object_label for e in _events(app, actor="x")} == {"5d"}
