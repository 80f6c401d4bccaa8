"""The Calls page and GET /api/v1/calls (issue 12): filters, reasons in words, email outcome, links to recordings."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from webui_fixtures import admin, auth, logged_in, make_recording, make_world, write_wav  # noqa: F401

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
SKIP_REASON = "customer class Residential has 'New call recording is available' off"


@pytest.fixture
def world(app):
    from callrec import services
    from callrec.models import Account, CallLog, Delivery, Recording, db

    ids = make_world(app)
    with app.app_context():
        ids["other"] = services.create(Account, {"number": "2002", "customer_id": ids["customer"],
                                                 "product_id": ids["product"]}).id
    wav = write_wav(Path(app.config["RECORDINGS_DIR"]) / "rec.wav")
    ids["recording"] = make_recording(app, ids["account"], str(wav), started_at=DAY, call_uuid="c-rec")
    with app.app_context():
        db.session.add(Delivery(recording=db.session.get(Recording, ids["recording"]), status="skipped",
                                reason=SKIP_REASON))
        rows = {
            "rec": CallLog(call_key="c-rec", leg_uuid="l-rec", account_id=ids["account"], account_number="1001",
                           direction="outgoing", caller="1001", callee="5550001", started_at=DAY,
                           decision="recorded", reason_code="auto_outgoing",
                           reason='auto outgoing: product "Basic" records outgoing calls automatically',
                           notes=json.dumps(["stop code *45 pressed: nothing was recording"])),
            "vm": CallLog(call_key="c-vm", leg_uuid="l-vm", account_id=ids["account"], account_number="1001",
                          direction="outgoing", caller="1001", callee="*98", started_at=DAY + timedelta(days=2),
                          decision="not_recorded", reason_code="voicemail_retrieval",
                          reason="a call to voicemail retrieval (*98) is never recorded <script>x</script>"),
            "other": CallLog(call_key="c-other", leg_uuid="l-other", account_id=ids["other"],
                             account_number="2002", direction="incoming", caller="5551234", callee="2002",
                             started_at=DAY + timedelta(days=5), decision="not_recorded",
                             reason_code="incoming_off", reason="incoming calls off: product \"Basic\" does not "
                                                                "record incoming calls automatically"),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        ids["calls"] = {name: row.id for name, row in rows.items()}
    return ids


def _fill(args: dict, world: dict) -> dict:
    return {k: v.format(account=world["account"], other=world["other"]) for k, v in args.items()}


FILTER_TABLE = [
    ({}, {"rec", "vm", "other"}),
    ({"account_id": "{account}"}, {"rec", "vm"}),
    ({"account_id": "{other}"}, {"other"}),
    ({"number": "5551"}, {"other"}),
    ({"number": "*98"}, {"vm"}),
    ({"number": "2002"}, {"other"}),
    ({"decision": "recorded"}, {"rec"}),
    ({"decision": "not_recorded"}, {"vm", "other"}),
]


@pytest.mark.parametrize(("args", "expected"), FILTER_TABLE + [
    ({"account": "2002"}, {"other"}),
    ({"reason_code": "voicemail_retrieval"}, {"vm"}),
    ({"since": "2026-03-11"}, {"vm", "other"}),
    ({"until": "2026-03-13T00:00:00Z"}, {"rec", "vm"}),
    ({"call_key": "c-rec"}, {"rec"}),
])
def test_the_api_lists_calls_by_account_number_decision_and_time(api, world, args, expected):
    response = api.get("/api/v1/calls", query_string=_fill(args, world))
    assert response.status_code == 200, response.get_json()
    names = {v: k for k, v in world["calls"].items()}
    body = response.get_json()
    assert {names[item["id"]] for item in body["items"]} == expected
    assert body["total"] == len(expected)


@pytest.mark.parametrize(("args", "expected"), FILTER_TABLE + [
    ({"date_from": "2026-03-11"}, {"vm", "other"}),
    ({"date_to": "2026-03-12"}, {"rec", "vm"}),
])
def test_the_calls_page_filters_by_account_number_decision_and_date(logged_in, world, args, expected):
    response = logged_in.get("/calls/", query_string=_fill(args, world))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = {name for name, call_id in world["calls"].items() if f'data-call-id="{call_id}"' in page}
    assert shown == expected


@pytest.mark.parametrize(("args", "field"), [
    ({"decision": "maybe"}, "decision"),
    ({"account_id": "abc"}, "account_id"),
    ({"account_id": "0"}, "account_id"),
    ({"direction": "sideways"}, "direction"),
    ({"since": "yesterday"}, "yesterday"),
    ({"until": "9999-12-31T23:59:59-05:00"}, "9999"),
    ({"number": "1" * 65}, "number"),
    ({"number": "10\x0001"}, "number"),
    ({"page": "x"}, "page"),
])
def test_bad_call_filters_are_a_422_naming_the_filter(api, world, args, field):
    response = api.get("/api/v1/calls", query_string=args)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error_id"] and field in json.dumps(body)


@pytest.mark.parametrize("args", [{"date_from": "10.03.2026"}, {"decision": "maybe"}])
def test_bad_filters_on_the_calls_page_say_so_and_list_nothing(logged_in, world, args):
    response = logged_in.get("/calls/", query_string=args)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="error"' in page and "data-call-id" not in page


def test_a_call_shows_its_reason_its_notes_its_email_outcome_and_links_its_recording(api, world):
    body = api.get(f"/api/v1/calls/{world['calls']['rec']}").get_json()
    assert body["decision"] == "recorded" and body["reason_code"] == "auto_outgoing"
    assert body["notes"] == ["stop code *45 pressed: nothing was recording"]
    assert [r["id"] for r in body["recordings"]] == [world["recording"]]
    assert body["email"] == {"status": "skipped", "explanation": f"skipped because {SKIP_REASON}"}
    vm = api.get(f"/api/v1/calls/{world['calls']['vm']}").get_json()
    assert vm["recordings"] == [] and vm["email"]["status"] == "none"


def test_an_unknown_call_is_a_404_in_the_api_shape(api, world):
    response = api.get("/api/v1/calls/999999")
    assert response.status_code == 404 and response.get_json()["error_id"]


def test_the_calls_page_gives_the_reason_in_words_the_email_outcome_and_the_recording_link(logged_in, world):
    page = logged_in.get("/calls/").get_data(as_text=True)
    assert "incoming calls off: product &#34;Basic&#34; does not record incoming calls automatically" in page
    assert f"skipped because {SKIP_REASON}".replace("'", "&#39;") in page
    assert f'href="/recordings/{world["recording"]}"' in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page  # escaped
    assert "stop code *45 pressed: nothing was recording" in page


def test_the_calls_page_needs_a_login_and_the_api_a_token(client, world):
    assert client.get("/calls/").status_code in (302, 401)
    response = client.get("/api/v1/calls")
    assert response.status_code == 401 and response.is_json
