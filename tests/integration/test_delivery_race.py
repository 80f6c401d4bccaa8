"""Two workers (two controllers sharing one database) racing over the same outbox never send an email twice.

Runs on SQLite by default and on PostgreSQL when CALLREC_TEST_DATABASE_URL is set: each worker has its own
app, engine and connections, in its own thread.
"""
from __future__ import annotations

import threading
import wave
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from callrec.delivery import DeliveryWorker
from callrec.models import Account, Customer, CustomerClass, Delivery, Product, Recording, db, get_settings, utcnow
from tests.integration.smtp_server import SmtpServer

DELIVERIES = 200


def _seed(app, count: int) -> None:
    path = Path(app.config["RECORDINGS_DIR"]) / "short.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x01" * 800)
    with app.app_context():
        get_settings().records_delivery_enabled = True
        cls = CustomerClass(name="class", notify_new_call_recording=True)
        account = Account(number="1000", email="alice@example.com",
                          customer=Customer(name="customer", customer_class=cls),
                          product=Product(name="product", enabled=True, email_delivery=True))
        db.session.add(account)
        now = utcnow()
        for n in range(count):
            rec = Recording(call_uuid=f"call-{n}", leg_uuid=f"leg-{n}", account=account, account_number="1000",
                            direction="outgoing", trigger="auto", caller="1000", callee=f"2{n:03d}",
                            started_at=now, duration_seconds=0.2, file_path=str(path), status="completed")
            db.session.add(Delivery(recording=rec, recipient="alice@example.com", status="pending",
                                    next_attempt_at=now))
        db.session.commit()


def test_two_workers_racing_over_200_pending_deliveries_send_each_exactly_once(app, database_url):
    from webui import create_app

    smtp = SmtpServer().start()
    _seed(app, DELIVERIES)
    second_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                             "RECORDINGS_DIR": app.config["RECORDINGS_DIR"], "SECRET_KEY": "test-secret",
                             "MAIL_SUPPRESS_SEND": False})
    for each in (app, second_app):
        each.config.update(smtp.mail_config())
    later = utcnow() + timedelta(seconds=1)
    workers = [DeliveryWorker(app, "node-a", clock=lambda: later),
               DeliveryWorker(second_app, "node-b", clock=lambda: later)]
    start = threading.Barrier(len(workers))
    sent: dict[str, int] = {}
    failures: list[BaseException] = []

    def run(worker: DeliveryWorker) -> None:
        try:
            start.wait(timeout=10)
            sent[worker.owner] = worker.run_once(limit=DELIVERIES * 2).sent
        except BaseException as exc:  # handed to the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        smtp.stop()
        with second_app.app_context():
            db.session.remove()
            db.engine.dispose()

    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    ids = Counter(m.parsed()["Message-ID"] for m in smtp.messages)
    assert len(smtp.messages) == DELIVERIES
    assert len(ids) == DELIVERIES and max(ids.values()) == 1
    assert sum(sent.values()) == DELIVERIES, sent
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status == "sent", Delivery.attempts == 1)) == DELIVERIES
        assert set(db.session.scalars(select(Delivery.message_id))) == set(ids)
