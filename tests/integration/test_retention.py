"""Settings.retention_days: old recordings go (row and file); recent, unfinished or still-mailing ones stay."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from callrec.models import Delivery, Recording, db, get_settings
from callrec.retention import purge_expired

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def make(app):
    def make(key, age_days, status="completed", delivery=None):
        path = os.path.join(app.config["RECORDINGS_DIR"], f"{key}.wav")
        with open(path, "wb") as f:
            f.write(b"RIFF")
        rec = Recording(call_uuid=key, leg_uuid=key, account_number="1000", direction="outgoing", trigger="auto",
                        started_at=NOW - timedelta(days=age_days), file_path=path, status=status)
        db.session.add(rec)
        if delivery:
            db.session.add(Delivery(recording=rec, status=delivery))
        db.session.commit()
        return path
    return make


def test_recordings_past_the_retention_period_are_deleted_with_their_files(app, make):
    with app.app_context():
        get_settings().retention_days = 30
        db.session.commit()
        old, recent = make("old", 31), make("recent", 29)
        assert purge_expired(db.session, app.config["RECORDINGS_DIR"], now=NOW) == 1
        assert [r.call_uuid for r in db.session.scalars(db.select(Recording))] == ["recent"]
    assert not os.path.exists(old) and os.path.exists(recent)


@pytest.mark.parametrize(("status", "delivery"), [("recording", None), ("completed", "pending"),
                                                  ("completed", "sending")])
def test_recordings_still_recording_or_mailing_are_kept_past_retention(app, make, status, delivery):
    with app.app_context():
        get_settings().retention_days = 1
        db.session.commit()
        path = make("busy", 10, status=status, delivery=delivery)
        assert purge_expired(db.session, app.config["RECORDINGS_DIR"], now=NOW) == 0
    assert os.path.exists(path)


def test_retention_zero_keeps_recordings_forever(app, make):
    with app.app_context():
        get_settings().retention_days = 0
        db.session.commit()
        make("ancient", 3650, delivery="sent")
        assert purge_expired(db.session, app.config["RECORDINGS_DIR"], now=NOW) == 0


def test_purge_command_reports_what_it_deleted(app, make, runner):
    with app.app_context():
        get_settings().retention_days = 1
        db.session.commit()
        make("old", 400, delivery="sent")  # relative to the real clock: 400 days is past any retention of 1
    result = runner.invoke(args=["purge-recordings"])
    assert result.exit_code == 0 and "1 recording(s) deleted" in result.output


def test_the_controllers_retention_thread_purges_until_stopped(app, make):
    import threading

    from callrec.retention import serve

    with app.app_context():
        get_settings().retention_days = 1
        db.session.commit()
        path = make("old", 400, delivery="sent")
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(app, stop, 0.05))
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(200):  # re-check under a deadline (10 s), not a fixed wait
            if not os.path.exists(path):
                break
            deadline.wait(0.05)
        assert not os.path.exists(path)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Recording)) == 0


def test_call_log_entries_past_the_retention_period_are_deleted(app):
    from callrec.models import CallLog

    with app.app_context():
        get_settings().retention_days = 30
        for key, age in (("old-1", 31), ("old-2", 400), ("recent", 29)):
            db.session.add(CallLog(call_key=key, leg_uuid=key, account_number="1000", direction="outgoing",
                                   started_at=NOW - timedelta(days=age), decision="not_recorded",
                                   reason="never connected"))
        db.session.commit()
        purge_expired(db.session, app.config["RECORDINGS_DIR"], now=NOW, limit=1)  # more than one batch
        assert [c.call_key for c in db.session.scalars(db.select(CallLog))] == ["recent"]
