"""The dashboard: controller connected to FreeSWITCH and its last event, recordings today, failed deliveries."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from webui_fixtures import (admin, auth, logged_in, make_recording, make_world, text_of,  # noqa: F401
                            write_wav)


def _status(app, **values):
    from callrec.models import ControllerStatus, db

    with app.app_context():
        db.session.add(ControllerStatus(**values))
        db.session.commit()


def test_dashboard_says_never_seen_without_a_controller(logged_in):
    page = text_of(logged_in.get("/"))
    assert "Controller Never seen" in page
    assert "Recordings today 0" in page and "Failed deliveries 0" in page


def test_dashboard_shows_a_connected_controller_and_its_last_event(app, logged_in):
    from callrec.models import utcnow

    _status(app, node="pbx1", connected=True, core_uuid="abc", last_event_at=utcnow(), updated_at=utcnow())
    page = text_of(logged_in.get("/"))
    assert "Connected to FreeSWITCH" in page and "pbx1" in page
    assert "Last event: " + utcnow().strftime("%Y-%m-%d") in page
    assert "(just now)" in page


def test_dashboard_says_how_long_ago_the_last_event_was(app, logged_in):
    from callrec.models import utcnow

    _status(app, node="pbx1", connected=True, last_event_at=utcnow() - timedelta(minutes=5, seconds=3),
            updated_at=utcnow())
    assert "(5 minutes ago)" in text_of(logged_in.get("/"))


def test_dashboard_shows_a_disconnected_controller(app, logged_in):
    from callrec.models import utcnow

    _status(app, node="pbx1", connected=False, last_event_at=None, updated_at=utcnow(), detail="connection refused")
    page = text_of(logged_in.get("/"))
    assert "Not connected to FreeSWITCH" in page and "connection refused" in page
    assert "Last event: never seen" in page


def test_dashboard_flags_a_controller_that_stopped_reporting(app, logged_in):
    from callrec.models import utcnow

    _status(app, node="pbx1", connected=True, last_event_at=utcnow(), updated_at=utcnow() - timedelta(minutes=10))
    assert "Not reporting" in text_of(logged_in.get("/"))


def test_dashboard_counts_todays_recordings_and_failed_deliveries(app, logged_in):
    from callrec.models import Delivery, db, utcnow

    ids = make_world(app)
    wav = str(write_wav(Path(app.config["RECORDINGS_DIR"]) / "a.wav"))
    today = make_recording(app, ids["account"], wav, call_uuid="t1")
    make_recording(app, ids["account"], wav, call_uuid="t2")
    make_recording(app, ids["account"], wav, call_uuid="old", started_at=utcnow() - timedelta(days=3))
    with app.app_context():
        db.session.add(Delivery(recording_id=today, status="failed", recipient="a@example.com",
                                last_error="550 no such user"))
        db.session.commit()
    page = text_of(logged_in.get("/"))
    assert "Recordings today 2" in page
    assert "Failed deliveries 1" in page
    assert "550 no such user" in page
