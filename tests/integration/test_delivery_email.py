"""Recording delivery by email against a real SMTP server on loopback (issue 5).

Time is the worker's clock, moved by the tests: no sleeps. The rows are made the way the controller
makes them at hangup: a finalised Recording and `outbox.enqueue` in the same transaction.
"""
from __future__ import annotations

import hashlib
import random
import re
import time
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from callrec import outbox
from callrec.delivery import DeliveryWorker
from callrec.delivery.links import SALT
from callrec.models import (Account, Customer, CustomerClass, Delivery, Product, Recording, db, get_settings,
                            utcnow)
from tests.integration.smtp_server import SmtpServer, self_signed_certificate, server_tls_context

CALL_START = datetime(2026, 11, 25, 13, 32, 5, tzinfo=timezone.utc)  # 14:32 in Europe/Berlin


class Clock:
    """The worker's time, moved explicitly by the test."""

    def __init__(self):
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp):
    app.config.update(smtp.mail_config())
    with app.app_context():
        settings = get_settings()
        settings.time_zone = "Europe/Berlin"
        settings.records_delivery_enabled = True
        db.session.commit()
    return app


@pytest.fixture
def clock():
    return Clock()


def make_account(number="1000", *, email="alice@example.com", email_delivery=True, class_notifies=True,
                 enabled=True) -> Account:
    cls = CustomerClass(name=f"class {number}", notify_new_call_recording=class_notifies)
    customer = Customer(name=f"customer {number}", customer_class=cls)
    product = Product(name=f"product {number}", enabled=enabled, auto_record_outgoing=True,
                      email_delivery=email_delivery)
    account = Account(number=number, email=email, customer=customer, product=product)
    db.session.add(account)
    db.session.flush()
    return account


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> bytes:
    rng = random.Random(str(path))
    frames = bytes(rng.getrandbits(8) for _ in range(int(seconds * rate) * 2))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path.read_bytes()


def finish_call(app, account: Account, *, callee="1001", seconds=2.0, call="call-1") -> Recording:
    """What the controller does at hangup: finalise the recording and enqueue its delivery, one commit."""
    path = Path(app.config["RECORDINGS_DIR"]) / f"{call}-{account.number}.wav"
    data = write_wav(path, seconds)
    rec = Recording(call_uuid=call, leg_uuid=f"{call}-leg", account=account, account_number=account.number,
                    direction="outgoing", trigger="auto", caller=account.number, callee=callee,
                    started_at=CALL_START, ended_at=CALL_START + timedelta(seconds=seconds),
                    duration_seconds=seconds, file_path=str(path), size_bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(), status="completed")
    db.session.add(rec)
    outbox.enqueue(db.session, rec, account.effective_policy(get_settings()))
    db.session.commit()
    return rec


def one_call(app, **account_kw) -> tuple[int, bytes]:
    with app.app_context():
        rec = finish_call(app, make_account(**account_kw))
        return rec.id, Path(rec.file_path).read_bytes()


def delivery_of(app, recording_id: int) -> dict:
    with app.app_context():
        d = db.session.scalar(select(Delivery).where(Delivery.recording_id == recording_id))
        return {"status": d.status, "reason": d.reason, "attempts": d.attempts, "last_error": d.last_error,
                "message_id": d.message_id, "next_attempt_at": d.next_attempt_at, "recipient": d.recipient,
                "log": [(a.outcome, a.error) for a in d.attempt_log], "delivery": d.id}


def test_one_call_sends_exactly_one_message_with_the_recording_attached(mail_app, smtp, clock):
    rec_id, audio = one_call(mail_app)
    worker = DeliveryWorker(mail_app, "w1", clock=clock)

    assert worker.run_once().sent == 1
    clock.advance(hours=1)
    assert worker.run_once().attempted == 0  # nothing left: a second run sends nothing

    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == ("alice@example.com",)
    msg = received.parsed()
    assert msg["Subject"] == "New call recording is available"
    assert msg["To"] == "alice@example.com"
    assert msg["From"] == "callrec@example.net"
    attachments = list(msg.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_content_type() == "audio/wav"
    assert attachments[0].get_filename() == "2026-11-25_1432_1000-to-1001.wav"
    assert attachments[0].get_content() == audio
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    for body in (text, page):
        for expected in ("1000", "1001", "Outgoing", "2026-11-25 14:32:05 (Europe/Berlin)", "0:02"):
            assert expected in body
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "sent" and row["attempts"] == 1
    assert msg["Message-ID"] == row["message_id"]
    assert row["log"] == [("sent", "")]


@pytest.mark.parametrize(("missing", "account_kw", "records_delivery", "reason"), [
    ("policy email delivery", {"email_delivery": False}, True, "'Send the call recording via email' is off"),
    ("RecordsDelivery.Enabled", {}, False, "RecordsDelivery.Enabled is No"),
    ("customer class notification", {"class_notifies": False}, True, "'New call recording is available' off"),
    ("account email", {"email": ""}, True, "has no email address"),
    ("call recording itself", {"enabled": False}, True, "call recording is disabled"),
])
def test_no_message_when_a_condition_is_missing_and_the_reason_is_kept(mail_app, smtp, clock, missing,
                                                                       account_kw, records_delivery, reason):
    with mail_app.app_context():
        get_settings().records_delivery_enabled = records_delivery
        db.session.commit()
    rec_id, _ = one_call(mail_app, **account_kw)

    summary = DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    assert summary.attempted == 0 and smtp.messages == []
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "skipped"
    assert reason in row["reason"], missing


def test_turning_records_delivery_on_later_does_not_mail_old_recordings(mail_app, smtp, clock):
    with mail_app.app_context():
        get_settings().records_delivery_enabled = False
        db.session.commit()
        account = make_account()
        old = finish_call(mail_app, account, call="old").id
        get_settings().records_delivery_enabled = True
        db.session.commit()
        new = finish_call(mail_app, db.session.get(Account, account.id), call="new").id

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    assert len(smtp.messages) == 1
    assert delivery_of(mail_app, old)["status"] == "skipped"
    assert delivery_of(mail_app, new)["status"] == "sent"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_smtp(certificate):
    server = SmtpServer(tls_context=server_tls_context(*certificate), credentials=("callrec", "s3cret")).start()
    yield server
    server.stop()


def _use_tls_server(app, server, cert, password="s3cret", ca=True):
    app.config.update(server.mail_config(), MAIL_USE_TLS=True, MAIL_USERNAME="callrec", MAIL_PASSWORD=password,
                      CALLREC_MAIL_CA_FILE=str(cert) if ca else "")


def test_starttls_and_auth_against_a_server_with_a_self_signed_certificate(mail_app, tls_smtp, certificate,
                                                                           clock):
    _use_tls_server(mail_app, tls_smtp, certificate[0])
    rec_id, audio = one_call(mail_app)

    assert DeliveryWorker(mail_app, "w1", clock=clock).run_once().sent == 1

    [received] = tls_smtp.messages
    assert received.tls and received.authenticated
    assert next(received.parsed().iter_attachments()).get_content() == audio


def test_an_untrusted_certificate_is_refused_and_retried_later(mail_app, tls_smtp, certificate, clock):
    _use_tls_server(mail_app, tls_smtp, certificate[0], ca=False)
    rec_id, _ = one_call(mail_app)

    summary = DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    assert summary.retried == 1 and tls_smtp.messages == []
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "pending" and "certificate verify failed" in row["last_error"]


def test_a_wrong_smtp_password_is_retried_with_the_error_kept(mail_app, tls_smtp, certificate, clock):
    _use_tls_server(mail_app, tls_smtp, certificate[0], password="wrong")
    rec_id, _ = one_call(mail_app)

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "pending" and "535" in row["last_error"] and tls_smtp.messages == []


def test_smtp_down_for_a_while_then_up_delivers_once(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    worker = DeliveryWorker(mail_app, "w1", clock=clock)
    smtp.stop()

    assert worker.run_once().retried == 1
    first_retry = delivery_of(mail_app, rec_id)["next_attempt_at"]
    assert first_retry == clock.now + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert worker.run_once().attempted == 0  # not due yet
    clock.advance(seconds=31)
    assert worker.run_once().retried == 1
    assert delivery_of(mail_app, rec_id)["next_attempt_at"] == clock.now + timedelta(seconds=120)

    smtp.start()
    clock.advance(seconds=121)
    assert worker.run_once().sent == 1
    clock.advance(hours=1)
    worker.run_once()

    assert len(smtp.messages) == 1
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "sent" and row["attempts"] == 3
    assert [outcome for outcome, _ in row["log"]] == ["retry", "retry", "sent"]
    assert "refused" in row["log"][0][1]


def test_while_smtp_is_down_one_attempt_is_spent_per_run_not_one_per_pending_email(mail_app, smtp, clock):
    with mail_app.app_context():
        account = make_account()
        first = finish_call(mail_app, account, call="a").id
        second = finish_call(mail_app, db.session.get(Account, account.id), call="b").id
    smtp.stop()

    summary = DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    assert summary.retried == 1
    assert delivery_of(mail_app, first)["attempts"] + delivery_of(mail_app, second)["attempts"] == 1


def test_4xx_is_retried_with_exponential_backoff_until_the_attempt_limit(mail_app, smtp, clock):
    with mail_app.app_context():
        get_settings().max_delivery_attempts = 3
        db.session.commit()
    rec_id, _ = one_call(mail_app)
    smtp.reply_next("RCPT", "451 4.3.0 Mailbox busy, try later", times=3)
    worker = DeliveryWorker(mail_app, "w1", clock=clock)

    delays = []
    for _ in range(3):
        worker.run_once()
        row = delivery_of(mail_app, rec_id)
        if row["next_attempt_at"] is not None:
            delays.append(row["next_attempt_at"] - clock.now)
            clock.now = row["next_attempt_at"]

    assert delays == [timedelta(seconds=60), timedelta(seconds=120)]
    assert row["status"] == "failed" and row["reason"] == "attempts exhausted"
    assert [error for _, error in row["log"]] == ["recipient refused: alice@example.com: 451 4.3.0 Mailbox busy, "
                                                  "try later"] * 3
    assert smtp.messages == []


def test_550_fails_permanently_and_the_error_is_visible(mail_app, smtp, clock, api):
    rec_id, _ = one_call(mail_app)
    smtp.reply_next("RCPT", "550 5.1.1 <alice@example.com>: Recipient address rejected")

    summary = DeliveryWorker(mail_app, "w1", clock=clock).run_once()
    clock.advance(days=1)
    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    assert summary.failed == 1 and smtp.messages == []
    delivery = api.get(f"/api/v1/recordings/{rec_id}").get_json()["delivery"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "550 5.1.1 <alice@example.com>: Recipient address rejected" in delivery["last_error"]


def test_550_after_data_fails_permanently(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    smtp.reply_next("DATA", "554 5.7.1 Message rejected as spam")

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "failed" and "554 5.7.1" in row["last_error"] and smtp.messages == []


class KilledAfterSending(DeliveryWorker):
    def _mark_sent(self, taken, summary):
        raise Killed()


class KilledBeforeData(DeliveryWorker):
    def _mark_handed_over(self, taken):
        raise Killed()


def test_worker_killed_after_sending_before_marking_sends_no_second_copy(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    with pytest.raises(Killed):
        KilledAfterSending(mail_app, "w1", clock=clock).run_once()
    [received] = smtp.messages
    row = delivery_of(mail_app, rec_id)
    # The Message-ID was stored before the SMTP transaction: the row names the message that went out.
    assert row["status"] == "sending" and row["message_id"] == received.parsed()["Message-ID"]

    other = DeliveryWorker(mail_app, "w2", clock=clock)
    clock.advance(minutes=5)
    assert other.run_once().interrupted == 0  # the dead worker's lease still holds
    clock.advance(minutes=6)  # lease (10 min) expired
    assert other.run_once().interrupted == 1
    clock.advance(days=1)
    other.run_once()

    assert len(smtp.messages) == 1
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "failed" and row["reason"] == "interrupted"
    assert "may have been delivered" in row["last_error"] and row["message_id"] in row["last_error"]
    assert [outcome for outcome, _ in row["log"]] == ["interrupted"]


def test_send_again_after_an_interrupted_send_keeps_the_message_id(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    with pytest.raises(Killed):
        KilledAfterSending(mail_app, "w1", clock=clock).run_once()
    clock.advance(minutes=11)
    worker = DeliveryWorker(mail_app, "w2", clock=clock)
    worker.run_once()
    with mail_app.app_context():
        outbox.requeue(db.session.get(Recording, rec_id).delivery)
        db.session.commit()

    assert worker.run_once().sent == 1

    first, second = (m.parsed()["Message-ID"] for m in smtp.messages)
    assert first == second  # a receiver that deduplicates by Message-ID shows it once


def test_worker_killed_before_data_resends_once_with_the_same_message_id(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    with pytest.raises(Killed):
        KilledBeforeData(mail_app, "w1", clock=clock).run_once()
    message_id = delivery_of(mail_app, rec_id)["message_id"]
    assert smtp.messages == [] and message_id

    clock.advance(minutes=11)
    summary = DeliveryWorker(mail_app, "w2", clock=clock).run_once()

    assert summary.recovered == 1 and summary.sent == 1
    [received] = smtp.messages
    assert received.parsed()["Message-ID"] == message_id
    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "sent" and [o for o, _ in row["log"]] == ["interrupted", "sent"]


def test_a_recording_above_the_size_limit_is_sent_as_a_signed_link_that_downloads_it(mail_app, smtp, clock,
                                                                                      client):
    mail_app.config["PUBLIC_URL"] = "https://callrec.example.net"
    with mail_app.app_context():
        get_settings().attachment_max_bytes = 1000
        db.session.commit()
    rec_id, audio = one_call(mail_app)

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    msg = smtp.messages[0].parsed()
    assert list(msg.iter_attachments()) == []
    text = msg.get_body(("plain",)).get_content()
    url = re.search(r"https://callrec\.example\.net(/download/\S+)", text).group(1)
    assert url in msg.get_body(("html",)).get_content()
    response = client.get(url)  # no login: the signature is the key
    assert response.status_code == 200 and response.data == audio
    assert response.mimetype == "audio/wav"
    assert "2026-11-25_1432_1000-to-1001.wav" in response.headers["Content-Disposition"]
    response.close()
    assert client.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB")).status_code == 404


def test_an_expired_download_link_is_refused(mail_app, client):
    rec_id, _ = one_call(mail_app)
    with mail_app.app_context():
        sha = db.session.get(Recording, rec_id).sha256

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 8 * 86400

    token = URLSafeTimedSerializer("test-secret", salt=SALT, signer=EightDaysAgo).dumps({"r": rec_id, "h": sha[:16]})
    assert client.get(f"/download/{token}").status_code == 410


def test_send_again_on_a_skipped_delivery_uses_the_current_policy(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app, email="")
    with mail_app.app_context():
        delivery = db.session.get(Recording, rec_id).delivery
        with pytest.raises(outbox.RequeueRefused, match="has no email address"):
            outbox.requeue(delivery)
        db.session.rollback()
        db.session.get(Recording, rec_id).account.email = "new@example.com"
        db.session.commit()
        outbox.requeue(db.session.get(Recording, rec_id).delivery)
        db.session.commit()

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    [received] = smtp.messages
    assert received.rcpt_tos == ("new@example.com",)
    assert delivery_of(mail_app, rec_id)["status"] == "sent"


def test_send_again_after_a_delivery_sends_a_new_message(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    worker = DeliveryWorker(mail_app, "w1", clock=clock)
    worker.run_once()
    with mail_app.app_context():
        outbox.requeue(db.session.get(Recording, rec_id).delivery)
        db.session.commit()
    clock.advance(seconds=1)
    worker.run_once()

    first, second = (m.parsed()["Message-ID"] for m in smtp.messages)
    assert first != second


def test_a_missing_recording_file_fails_without_a_message(mail_app, smtp, clock):
    rec_id, _ = one_call(mail_app)
    with mail_app.app_context():
        Path(db.session.get(Recording, rec_id).file_path).unlink()

    DeliveryWorker(mail_app, "w1", clock=clock).run_once()

    row = delivery_of(mail_app, rec_id)
    assert row["status"] == "failed" and "file is missing" in row["last_error"] and smtp.messages == []


def test_deliver_command_sends_the_pending_emails_once_and_prints_a_summary(mail_app, smtp, runner):
    one_call(mail_app)

    first = runner.invoke(args=["deliver"])
    second = runner.invoke(args=["deliver"])

    assert first.exit_code == 0, first.output
    assert "1 sent, 0 to retry, 0 failed" in first.output
    assert "0 sent" in second.output
    assert len(smtp.messages) == 1


class StopAfterWaits:
    """A stop event that stops the loop after `count` waits and records the intervals (no real waiting)."""

    def __init__(self, count: int):
        self.count, self.waits = count, []

    def is_set(self) -> bool:
        return len(self.waits) >= self.count

    def wait(self, timeout=None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_serve_delivers_until_the_stop_event_is_set(mail_app, smtp, clock):
    one_call(mail_app)
    stop = StopAfterWaits(2)

    DeliveryWorker(mail_app, "w1", clock=clock).serve(stop, interval=7)

    assert stop.waits == [7, 7] and len(smtp.messages) == 1
