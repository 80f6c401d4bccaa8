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
