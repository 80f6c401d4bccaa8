"""Recordings: filters, play and download, delete with confirmation, delivery status and "send again"."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from webui_fixtures import (admin, auth, form_post, logged_in, make_recording, make_world,  # noqa: F401
                            text_of, write_wav)


def _wav(app, name: str) -> Path:
    return write_wav(Path(app.config["RECORDINGS_DIR"]) / name)


@pytest.fixture
def world(app):
    from callrec import services
    from callrec.models import Account

    ids = make_world(app)
    with app.app_context():
        ids["other"] = services.create(Account, {"number": "2002", "customer_id": ids["customer"],
                                                 "product_id": ids["product"]}).id
    day = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    ids["recs"] = {
        "out": make_recording(app, ids["account"], str(_wav(app, "out.wav")), started_at=day, call_uuid="c-out"),
        "in": make_recording(app, ids["account"], str(_wav(app, "in.wav")), direction="incoming",
                             started_at=day + timedelta(days=2), call_uuid="c-in"),
        "other": make_recording(app, ids["other"], str(_wav(app, "other.wav")), direction="redirected",
                                status="too_short", started_at=day + timedelta(days=5), call_uuid="c-other"),
    }
    return ids


DIRECTION_OF = {"out": "outgoing", "in": "incoming", "other": "redirected"}  # one recording per direction


def _listed(logged_in, **args) -> set[str]:
    """Which of the fixture's recordings the list shows (recognised by their direction cell)."""
    page = logged_in.get("/recordings/", query_string=args).get_data(as_text=True)
    return {name for name, direction in DIRECTION_OF.items() if f"<td>{direction}</td>" in page}


@pytest.mark.parametrize(("args", "expected"), [
    ({}, {"out", "in", "other"}),
    ({"account_id": "{account}"}, {"out", "in"}),
    ({"account_id": "{other}"}, {"other"}),
    ({"direction": "incoming"}, {"in"}),
    ({"status": "too_short"}, {"other"}),
    ({"status": "completed", "direction": "outgoing"}, {"out"}),
    ({"date_from": "2026-03-11"}, {"in", "other"}),
    ({"date_to": "2026-03-12"}, {"out", "in"}),  # the whole end day counts
    ({"date_from": "2026-03-11", "date_to": "2026-03-14"}, {"in"}),
])
def test_recordings_filter_by_account_direction_status_and_dates(world, logged_in, args, expected):
    args = {k: v.format(**world) for k, v in args.items()}
    assert _listed(logged_in, **args) == expected


def test_bad_filters_say_what_is_wrong(world, logged_in):
    page = text_of(logged_in.get("/recordings/?date_from=yesterday"))
    assert "Enter a date as YYYY-MM-DD." in page and "No recordings match." in page
    assert "direction must be one of outgoing, incoming, redirected" in text_of(
        logged_in.get("/recordings/?direction=sideways"))


def test_recording_page_plays_in_the_page_and_offers_a_download(app, world, logged_in):
    rec = world["recs"]["out"]
    page = logged_in.get(f"/recordings/{rec}").get_data(as_text=True)
    assert f'<audio id="player" controls preload="metadata" src="/recordings/{rec}/audio">' in page
    with logged_in.get(f"/recordings/{rec}/audio?download=1") as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == "attachment; filename=out.wav"
        assert response.data[:4] == b"RIFF"


def test_delete_asks_first_then_removes_row_and_file(app, world, logged_in):
    from callrec.models import Recording, db

    rec = world["recs"]["in"]
    path = Path(app.config["RECORDINGS_DIR"]) / "in.wav"
    confirm = text_of(logged_in.get(f"/recordings/{rec}/delete"))
    assert "Delete this recording?" in confirm and "cannot be undone" in confirm
    assert path.is_file()
    response = form_post(logged_in, f"/recordings/{rec}/delete", {}, follow_redirects=True)
    assert "Deleted the recording of the 1001 incoming call." in text_of(response)
    assert not path.exists()
    with app.app_context():
        assert db.session.get(Recording, rec) is None


def _delivery(app, rec_id, **values):
    from callrec.models import Delivery, db

    with app.app_context():
        delivery = Delivery(recording_id=rec_id, **values)
        db.session.add(delivery)
        db.session.commit()
        return delivery.id


def _allow_email(app, world):
    from callrec import services
    from callrec.models import CustomerClass

    with app.app_context():
        services.update_settings({"records_delivery_enabled": True})
        services.update(services.get(CustomerClass, world["customer_class"]), {"notify_new_call_recording": True})


def test_delivery_status_and_send_again(app, world, logged_in):
    from callrec.models import Delivery, db

    _allow_email(app, world)
    rec = world["recs"]["out"]
    delivery = _delivery(app, rec, status="failed", recipient="a@example.com", attempts=8,
                         last_error="550 mailbox unavailable", next_attempt_at=None)
    page = text_of(logged_in.get(f"/recordings/{rec}"))
    assert "failed to a@example.com" in page and "550 mailbox unavailable" in page and "Send again" in page
    response = form_post(logged_in, f"/recordings/{rec}/send-again", {}, form_url=f"/recordings/{rec}",
                         follow_redirects=True)
    assert "The recording will be sent again, to a@example.com." in text_of(response)
    with app.app_context():
        row = db.session.get(Delivery, delivery)
        assert row.status == "pending" and row.next_attempt_at is not None


def test_send_again_of_a_skipped_delivery_explains_why_not(app, world, logged_in):
    from callrec.models import Delivery, db

    rec = world["recs"]["out"]
    delivery = _delivery(app, rec, status="skipped", reason="the global setting RecordsDelivery.Enabled is No",
                         next_attempt_at=None)
    response = form_post(logged_in, f"/recordings/{rec}/send-again", {}, form_url=f"/recordings/{rec}",
                         follow_redirects=True)
    assert ("Not sent again: no email can be sent: the global setting RecordsDelivery.Enabled is No."
            in text_of(response))
    with app.app_context():
        assert db.session.get(Delivery, delivery).status == "skipped"


def test_send_again_of_a_skipped_delivery_uses_the_fixed_policy(app, world, logged_in):
    from callrec.models import Delivery, db

    rec = world["recs"]["out"]
    delivery = _delivery(app, rec, status="skipped", reason="x", next_attempt_at=None)
    _allow_email(app, world)
    form_post(logged_in, f"/recordings/{rec}/send-again", {}, form_url=f"/recordings/{rec}")
    with app.app_context():
        row = db.session.get(Delivery, delivery)
        assert (row.status, row.recipient) == ("pending", "a@example.com")


def test_filter_by_delivery_status(app, world, logged_in):
    _delivery(app, world["recs"]["in"], status="failed", recipient="a@example.com")
    assert _listed(logged_in, delivery_status="failed") == {"in"}
