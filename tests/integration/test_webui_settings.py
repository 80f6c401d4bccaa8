"""The settings page: RecordsDelivery.Enabled, default codes, voicemail numbers, lengths, retention."""
from __future__ import annotations

import pytest
from webui_fixtures import admin, auth, field_error, form_post, logged_in, text_of  # noqa: F401

VALID = {
    "records_delivery_enabled": "y", "record_start_code": "*71", "record_stop_code": "*72",
    "voicemail_numbers": "*98, vmain 4000", "min_recording_seconds": "2.5", "retention_days": "30",
    "record_format": "wav", "record_stereo": "y", "record_sample_rate": "16000", "dtmf_timeout_ms": "2500",
    "mail_sender": "rec@example.com", "time_zone": "Europe/Berlin", "attachment_max_bytes": "1000000",
    "max_delivery_attempts": "5",
}


def test_settings_page_shows_the_current_values(logged_in):
    page = logged_in.get("/settings/").get_data(as_text=True)
    assert 'value="*44"' in page and 'value="*45"' in page and 'value="*98,vmain,4000"' in page
    assert "RecordsDelivery.Enabled" in page


def test_saving_the_settings(app, logged_in):
    from callrec import services
    from callrec.models import get_settings

    response = form_post(logged_in, "/settings/", VALID)
    assert response.status_code == 302
    assert "Saved the settings." in text_of(logged_in.get("/settings/"))
    with app.app_context():
        data = services.to_dict(get_settings())
    assert data["records_delivery_enabled"] is True
    assert data["voicemail_numbers"] == ["*98", "vmain", "4000"]
    assert data["min_recording_seconds"] == 2.5 and data["retention_days"] == 30
    assert data["record_sample_rate"] == 16000 and data["time_zone"] == "Europe/Berlin"


def test_unticking_records_delivery_turns_it_off(app, logged_in):
    from callrec.models import get_settings

    form_post(logged_in, "/settings/", VALID)
    form_post(logged_in, "/settings/", {k: v for k, v in VALID.items() if k != "records_delivery_enabled"})
    with app.app_context():
        assert get_settings().records_delivery_enabled is False


@pytest.mark.parametrize(("field", "value", "message"), [
    ("record_start_code", "44a", "Only digits, * and # are allowed."),
    ("record_stop_code", "*71", "The stop code must differ from the start code."),
    ("record_stop_code", "*7", "One code must not be a prefix of the other."),
    ("voicemail_numbers", "*98 vm/ain", "Each number may hold letters, digits, * # + _ . - (up to 32)."),
    ("min_recording_seconds", "abc", "Must be a number from 0 to 3600."),
    ("min_recording_seconds", "-1", "Must be a number from 0 to 3600."),
    ("retention_days", "1.5", "Must be a whole number from 0 to 36500."),
    ("retention_days", "", "Must be a whole number from 0 to 36500."),
    ("dtmf_timeout_ms", "100", "Must be a whole number from 500 to 10000."),
    ("record_sample_rate", "44100", "Choose one of: 8000, 16000."),
    ("mail_sender", "nobody", "Enter a valid email address."),
    ("time_zone", "Mars/Olympus", "Unknown time zone (use a name such as Europe/Berlin)."),
    ("max_delivery_attempts", "0", "Must be a whole number from 1 to 100."),
])
def test_each_settings_error_is_shown_next_to_its_field(app, logged_in, field, value, message):
    from callrec.models import get_settings

    response = form_post(logged_in, "/settings/", {**VALID, field: value})
    assert response.status_code == 422
    assert field_error(response, field) == message
    with app.app_context():
        assert get_settings().record_start_code == "*44"  # nothing saved
