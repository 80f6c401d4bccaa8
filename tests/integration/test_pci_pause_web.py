"""PCI pause in the web UI and the API: pause/resume codes on dialing rules and settings (off by default, validated
with the start/stop codes), and a recording's paused intervals, written by the controller's store, on its page and
in the API."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from webui_fixtures import (admin, auth, field_error, form_post, logged_in, make_recording, make_world,  # noqa: F401
                            text_of, write_wav)

RULE = {"name": "Call centre", "record_start_code": "*71", "record_stop_code": "*72"}
US = 1_000_000
T0 = int(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()) * US


def test_pause_codes_are_off_by_default_in_the_settings_and_on_a_new_dialing_rule(api):
    settings = api.get("/api/v1/settings").json
    assert (settings["record_pause_code"], settings["record_resume_code"]) == ("", "")
    rule = api.post("/api/v1/dialing-rules", json=RULE).json
    assert (rule["record_pause_code"], rule["record_resume_code"]) == ("", "")


def test_a_dialing_rules_pause_codes_reach_the_accounts_effective_policy(app, api):
    rule = api.post("/api/v1/dialing-rules", json={**RULE, "record_pause_code": "*73",
                                                   "record_resume_code": "*74"})
    assert rule.status_code == 201, rule.json
    ids = make_world(app)
    api.patch(f"/api/v1/accounts/{ids['account']}", json={"dialing_rule_id": rule.json["id"]})
    codes = api.get(f"/api/v1/accounts/{ids['account']}/effective-policy").json["codes"]
    assert (codes["record_pause_code"], codes["record_resume_code"]) == ("*73", "*74")
    assert codes["source"]["kind"] == "dialing_rule"


@pytest.mark.parametrize(("body", "field"), [
    ({"record_pause_code": "*73"}, "record_resume_code"),
    ({"record_resume_code": "*74"}, "record_pause_code"),
    ({"record_pause_code": "*71", "record_resume_code": "*74"}, "record_pause_code"),
    ({"record_pause_code": "*7", "record_resume_code": "*74"}, "record_pause_code"),
    ({"record_pause_code": "*73", "record_resume_code": "*73"}, "record_resume_code"),
    ({"record_pause_code": "*73", "record_resume_code": "*7a"}, "record_resume_code"),
    ({"record_pause_code": None, "record_resume_code": "*74"}, "record_pause_code"),
])
def test_invalid_pause_codes_are_refused_and_change_nothing(api, body, field):
    created = api.post("/api/v1/dialing-rules", json={**RULE, **body})
    assert created.status_code == 422 and field in created.json["fields"], created.json
    patched = api.patch("/api/v1/settings", json={"record_start_code": "*71", "record_stop_code": "*72", **body})
    assert patched.status_code == 422 and field in patched.json["fields"], patched.json
    settings = api.get("/api/v1/settings").json
    assert (settings["record_start_code"], settings["record_pause_code"]) == ("*44", "")


def test_the_settings_page_saves_default_pause_codes_and_shows_a_clash(app, logged_in):
    from callrec.models import get_settings

    page = logged_in.get("/settings/").get_data(as_text=True)
    assert "Default pause recording code (PCI)" in page
    base = {"record_start_code": "*44", "record_stop_code": "*45", "voicemail_numbers": "*98",
            "min_recording_seconds": "1", "retention_days": "90", "record_format": "wav",
            "record_sample_rate": "8000", "dtmf_timeout_ms": "3000", "time_zone": "UTC",
            "attachment_max_bytes": "1000", "max_delivery_attempts": "8"}
    response = form_post(logged_in, "/settings/", {**base, "record_pause_code": "*4", "record_resume_code": "*47"})
    assert field_error(response, "record_pause_code") == \
        "One code must not be a prefix of another (the start code)."
    assert form_post(logged_in, "/settings/", {**base, "record_pause_code": "*46",
                                               "record_resume_code": "*47"}).status_code == 302
    with app.app_context():
        settings = get_settings()
        assert (settings.record_pause_code, settings.record_resume_code) == ("*46", "*47")


def test_the_dialing_rule_form_saves_pause_codes(app, logged_in):
    from callrec.models import DialingRule, db

    response = form_post(logged_in, "/dialing-rules/new", {**RULE, "record_pause_code": "*73",
                                                           "record_resume_code": "*74"})
    assert response.status_code == 302
    with app.app_context():
        rule = db.session.scalar(db.select(DialingRule))
        assert (rule.record_pause_code, rule.record_resume_code) == ("*73", "*74")
    assert "*73" in logged_in.get("/dialing-rules/").get_data(as_text=True)


@pytest.fixture
def paused_recording(app):
    """A recording whose pauses the controller's store wrote: 5 s closed, then one still open."""
    from callrec.models import db
    from controller.store import Store

    ids = make_world(app)
    path = write_wav(Path(app.config["RECORDINGS_DIR"]) / "pci.wav")
    rec_id = make_recording(app, ids["account"], str(path), call_uuid="c-pci")
    with app.app_context():
        assert Store.save_pauses("c-pci", "1001", ((T0 + 3 * US, T0 + 8 * US), (T0 + 20 * US, 0))) == 1
        db.session.remove()
    return rec_id


def test_the_api_shows_a_recordings_paused_intervals(api, paused_recording):
    body = api.get(f"/api/v1/recordings/{paused_recording}").json
    assert body["paused_intervals"] == [
        {"paused_at": "2026-03-10T12:00:03+00:00", "resumed_at": "2026-03-10T12:00:08+00:00", "seconds": 5.0},
        {"paused_at": "2026-03-10T12:00:20+00:00", "resumed_at": None, "seconds": None}]
    (listed,) = api.get("/api/v1/recordings?call_uuid=c-pci").json["items"]
    assert listed["paused_intervals"] == body["paused_intervals"]


def test_the_recordings_page_shows_its_paused_intervals(logged_in, paused_recording):
    text = text_of(logged_in.get(f"/recordings/{paused_recording}"))
    assert "Paused (PCI)" in text
    assert "from 2026-03-10 12:00:03 to 2026-03-10 12:00:08 (5.0 s)" in text
    assert "from 2026-03-10 12:00:20 to the end of the recording" in text


def test_a_recording_never_paused_shows_no_pauses(app, api, logged_in):
    ids = make_world(app)
    rec_id = make_recording(app, ids["account"], str(write_wav(Path(app.config["RECORDINGS_DIR"]) / "x.wav")))
    assert api.get(f"/api/v1/recordings/{rec_id}").json["paused_intervals"] == []
    assert "Paused" not in text_of(logged_in.get(f"/recordings/{rec_id}"))


@pytest.mark.parametrize(("product", "settings", "sentence"), [
    ({"manual_control": True}, {}, "PCI pause/resume codes: off — no pause/resume codes (global settings)"),
    ({"manual_control": True}, {"record_pause_code": "*46", "record_resume_code": "*47"},
     "PCI pause/resume codes: *46 / *47 (global settings)"),
    ({"manual_control": False}, {"record_pause_code": "*46", "record_resume_code": "*47"},
     "PCI pause/resume codes: *46 / *47 — not used while manual start/stop is not allowed (global settings)"),
])
def test_the_accounts_policy_panel_says_whether_pci_pause_is_on(app, logged_in, product, settings, sentence):
    from callrec import services
    from callrec.models import Product

    ids = make_world(app)
    with app.app_context():
        services.update(services.get(Product, ids["product"]), {"call_recording": product})
        if settings:
            services.update_settings(settings)
    page = text_of(logged_in.get(f"/accounts/{ids['account']}"))
    assert sentence in page[page.index("Effective policy"):]
