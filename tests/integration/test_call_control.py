"""Call control over the REST API and the Calls now page (issue 12), through the shared database only: the web UI
writes a request row, the real controller (on the emulator) picks it up, acts with the same rules as the codes and
writes the outcome, which the caller polls."""
from __future__ import annotations

import time

import pytest
from webui_fixtures import admin, auth, form_post, logged_in  # noqa: F401

from tests.integration.controller_harness import wait_for


def _live_call(h, api):
    call = h.fs.call_user_to_user("1000", "1001")
    call.answer()
    h.settle()
    wait_for(lambda: any(i["leg_uuid"] == call.a.uuid for i in api.get("/api/v1/calls/live").get_json()["items"]),
             5, "the caller's leg on the live list")
    return call


def _outcome(api, response) -> dict:
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    return wait_for(lambda: (lambda r: r if r["status"] != "pending" else None)(api.get(location).get_json()), 5,
                    f"the outcome of {location}")


def test_start_and_stop_asked_over_the_api_control_the_accounts_own_recording(h, api):
    h.account("1000", enabled=True, manual_control=True, email_delivery=True)
    h.start()
    call = _live_call(h, api)
    (leg,) = [i for i in api.get("/api/v1/calls/live").get_json()["items"] if i["leg_uuid"] == call.a.uuid]
    assert (leg["account_number"], leg["recording"], leg["manual_control"]) == ("1000", "off", True)
    asked = time.monotonic()
    response = api.post(f"/api/v1/calls/{call.a.uuid}/recording/start")
    start = h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    print(f"\nREST start -> uuid_record: {(time.monotonic() - asked) * 1000:.0f} ms (poll every 0.25 s)")
    done = _outcome(api, response)
    assert (done["status"], done["detail"], done["account_number"]) == ("done", "recording started", "1000")
    assert done["requested_by"] == "api:tests"
    wait_for(lambda: any(i["recording"] == "recording" for i in api.get("/api/v1/calls/live").get_json()["items"]),
             5, "the live list to show the recording")
    call.talk(seconds=2)
    stopped = _outcome(api, api.post(f"/api/v1/calls/{call.a.uuid}/recording/stop", json={"account": "1000"}))
    assert (stopped["status"], stopped["detail"]) == ("done", "recording stopped")
    stop = h.wait_command(r"^uuid_record %s stop" % call.a.uuid)
    assert start.line.split()[3] == stop.line.split()[3]  # the same file
    call.hangup("a")
    (rec,) = h.wait_finalised()
    assert (rec.trigger, rec.status) == ("manual", "completed")
    h.settle()
    (entry,) = [e for e in api.get("/api/v1/calls?account=1000").get_json()["items"]]
    assert entry["decision"] == "recorded"
    assert entry["reason"] == f"manual: start asked over the API (request {done['id']})"
    wait_for(lambda: api.get("/api/v1/calls/live").get_json()["items"] == [], 5, "the live list to empty")


@pytest.mark.parametrize(("flags", "account", "detail"), [
    ({"manual_control": False}, None, "account 1000's own configuration has manual recording control off"),
    ({"enabled": False, "manual_control": True}, None, "account 1000's own configuration has recording disabled"),
    ({"manual_control": True}, "1001", "account 1001 is not on this call leg"),
])
def test_control_over_the_api_follows_the_same_policy_checks_as_the_codes(h, api, flags, account, detail):
    h.account("1000", **{"enabled": True, **flags})
    h.account("1001", enabled=True, manual_control=True)
    h.start()
    call = _live_call(h, api)
    body = {"account": account} if account else None
    refused = _outcome(api, api.post(f"/api/v1/calls/{call.a.uuid}/recording/start", json=body))
    assert (refused["status"], refused["detail"]) == ("refused", detail)
    h.settle()
    assert h.commands(r"^uuid_record") == []


def test_stop_with_nothing_recording_is_refused_and_says_so(h, api):
    h.account("1000", enabled=True, manual_control=True)
    h.start()
    call = _live_call(h, api)
    refused = _outcome(api, api.post(f"/api/v1/calls/{call.a.uuid}/recording/stop"))
    assert (refused["status"], refused["detail"]) == ("refused", "nothing is recording")


@pytest.mark.parametrize(("path", "status", "error_id"), [
    ("/api/v1/calls/no-such-leg/recording/start", 404, "not-found"),
    ("/api/v1/calls/no-such-leg/recording/pause", 409, "control-unavailable"),
    ("/api/v1/calls/no-such-leg/recording/resume", 409, "control-unavailable"),
    ("/api/v1/calls/no-such-leg/recording/explode", 404, "not-found"),
    ("/api/v1/calls/" + "a" * 65 + "/recording/start", 404, "not-found"),
])
def test_call_control_errors_are_typed_and_change_nothing(api, path, status, error_id):
    from callrec.models import CallRequest, db

    response = api.post(path)
    assert (response.status_code, response.get_json()["error_id"]) == (status, error_id)
    with api.client.application.app_context():
        assert db.session.scalars(db.select(CallRequest)).all() == []


def test_an_unknown_call_request_is_a_404(api):
    response = api.get("/api/v1/call-requests/12345")
    assert response.status_code == 404 and response.get_json()["error_id"] == "not-found"


def test_the_calls_now_page_lists_the_leg_and_its_start_button_asks_the_controller(h, api, logged_in):
    h.account("1000", enabled=True, manual_control=True)
    h.start()
    call = _live_call(h, api)
    page = logged_in.get("/calls/now").get_data(as_text=True)
    assert f'data-leg="{call.a.uuid}"' in page and "recording-off" in page
    response = form_post(logged_in, f"/calls/now/{call.a.uuid}/start", {"account": "1000"}, form_url="/calls/now",
                         follow_redirects=True)
    assert "Requested: start the recording of 1000" in response.get_data(as_text=True)
    h.wait_command(r"^uuid_record %s start" % call.a.uuid)
    wait_for(lambda: "request-done" in logged_in.get("/calls/now").get_data(as_text=True), 5,
             "the request shown done")
    unknown = form_post(logged_in, "/calls/now/gone-leg/stop", {}, form_url="/calls/now", follow_redirects=True)
    assert "Not requested: No call in progress has that leg." in unknown.get_data(as_text=True)


def test_a_request_that_waited_for_a_controller_that_was_not_there_is_refused_not_carried_out(h, api):
    from datetime import timedelta

    from callrec.models import CallRequest, db, utcnow

    h.account("1000", enabled=True, manual_control=True)
    h.start()
    call = _live_call(h, api)
    with h.app.app_context():
        row = CallRequest(leg_uuid=call.a.uuid, account_number="1000", action="start", status="pending",
                          created_at=utcnow() - timedelta(minutes=5))
        db.session.add(row)
        db.session.commit()
        request_id = row.id
    outcome = wait_for(lambda: (lambda r: r if r["status"] != "pending" else None)(
        api.get(f"/api/v1/call-requests/{request_id}").get_json()), 5, "the outcome")
    assert outcome["status"] == "refused" and "too late to act on it" in outcome["detail"]
    h.settle()
    assert h.commands(r"^uuid_record") == []
