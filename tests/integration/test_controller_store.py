"""The controller's write queue: outages wait and retry, but a bad write never blocks the ones behind it."""
from __future__ import annotations

import gevent
import pytest
from sqlalchemy.exc import IntegrityError

from callrec.models import CustomerClass, db
from controller.store import Store, WriteQueue


def _violate_a_constraint():
    raise IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))


def _add_class(name):
    db.session.add(CustomerClass(name=name, notify_new_call_recording=False))
    return name


@pytest.fixture
def queue(app):
    store = Store(app)
    queue = WriteQueue(store, backoff_initial=0.01, backoff_max=0.05)
    queue.start()
    yield queue
    queue.stop()
    store.close()


def test_a_constraint_violation_is_dropped_and_logged_without_blocking_later_writes(app, queue, caplog):
    done = []
    queue.submit("bad", _violate_a_constraint)
    queue.submit("good", _add_class, "After the bad one", on_done=done.append)
    with gevent.Timeout(10):
        queue.idle.wait()
        while queue.jobs:
            queue.idle.wait()
    assert done == ["After the bad one"]
    assert queue.db_ok is True
    assert "database write bad failed; dropped" in caplog.text
    with app.app_context():
        assert db.session.scalar(db.select(CustomerClass.name)) == "After the bad one"


def _wav(path, seconds):
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))


class _Recipient:
    email_recipient = "owner@example.test"
    email_block_reason = None


@pytest.fixture
def account_number(app):
    from callrec.demo import seed

    with app.app_context():
        seed()
    return "1000"


def _drain(queue):
    with gevent.Timeout(10):
        while queue.jobs or not queue.idle.is_set():
            queue.idle.wait()


def test_one_batch_keeps_one_row_per_call_and_account_and_one_delivery_per_recording(app, queue, account_number,
                                                                                      tmp_path):
    from callrec.models import Delivery, Recording
    from controller.store import RecordingRow, Store

    def row(key, path=None):
        return RecordingRow(key, key + "-leg", account_number, "outgoing", "auto",
                            str(path or tmp_path / f"{key}.wav"), "1000", "1001")

    _wav(tmp_path / "a.wav", 2)
    _wav(tmp_path / "d.wav", 2)
    _wav(tmp_path / "short.wav", 0.2)
    outcomes = []
    # submitted without yielding: the queue runs them as one batch
    queue.submit("insert a", Store.insert_recording, row("a"))
    queue.submit("insert a again", Store.insert_recording, row("a"))
    queue.submit("finalise a", Store.finalise, row("a"), _Recipient(), 1.0, on_done=outcomes.append)
    queue.submit("finalise a again", Store.finalise, row("a"), _Recipient(), 1.0, on_done=outcomes.append)
    queue.submit("finalise d without insert", Store.finalise, row("d"), _Recipient(), 1.0, on_done=outcomes.append)
    queue.submit("finalise short", Store.finalise, row("s", tmp_path / "short.wav"), _Recipient(), 1.0,
                 on_done=outcomes.append)
    _drain(queue)

    assert outcomes == ["completed", "completed", "too_short"]  # the second finalisation of a returns None
    with app.app_context():
        recordings = {r.call_uuid: r for r in db.session.scalars(db.select(Recording))}
        deliveries = db.session.scalars(db.select(Delivery)).all()
        assert sorted(recordings) == ["a", "d", "s"]
        assert recordings["a"].status == "completed" and recordings["a"].size_bytes > 0
        assert len(recordings["a"].sha256) == 64
        assert {(d.recording.call_uuid, d.status) for d in deliveries} == {
            ("a", "pending"), ("d", "pending"), ("s", "skipped")}
        assert all(d.recipient == "owner@example.test" for d in deliveries if d.status == "pending")
