"""Outbox state changes that must be safe with several workers on one database.

Every change is one short write transaction guarded by a condition on the row (status, and the claim
token in `lease_owner`), so a worker whose lease has been taken over cannot overwrite the new owner's work.

- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` picks a row no other worker holds, then a conditional
  UPDATE takes it.
- SQLite: no row locks, so the transaction starts with `BEGIN IMMEDIATE` (the database's write lock, with
  the driver's busy timeout): the SELECT and the conditional UPDATE run with no other writer in between,
  and the UPDATE's rowcount confirms the claim. A plain deferred transaction could fail with "database is
  locked" when it upgrades from reading to writing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, or_, select, update

from ..models import Delivery, DeliveryAttempt

# Attempt outcomes beyond the final sent / retry / failed.
STARTED = "started"          # claimed; nothing handed to the SMTP server yet
HANDED_OVER = "handed_over"  # the DATA command was issued: from here the server may deliver it
INTERRUPTED = "interrupted"  # the worker stopped before recording the result
INTERRUPTED_REASON = "interrupted"  # Delivery.reason of a send that may or may not have been delivered


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short write transaction that serialises with other workers (BEGIN IMMEDIATE on SQLite)."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        conn.execution_options(isolation_level="AUTOCOMMIT")  # we issue BEGIN ourselves
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def _locking(conn: Connection, query):
    return query.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else query


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str        # stored in lease_owner: the fence for every later change
    attempt_id: int
    attempt: int      # this attempt's number (1 for the first)
    message_id: str


def claim_next(conn: Connection, *, token: str, now: datetime, lease_until: datetime,
               new_message_id: Callable[[int], str]) -> Claim | None:
    """Take the oldest due pending delivery: mark it sending, leased, with its Message-ID; None if none."""
    query = _locking(conn, select(Delivery.id, Delivery.message_id, Delivery.attempts)
                     .where(Delivery.status == "pending",
                            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
                     .order_by(Delivery.next_attempt_at, Delivery.id)
                     .limit(1))
    row = conn.execute(query).first()
    if row is None:
        return None
    message_id = row.message_id or new_message_id(row.id)
    result = conn.execute(
        update(Delivery)
        .where(Delivery.id == row.id, Delivery.status == "pending")
        .values(status="sending", lease_owner=token, lease_until=lease_until, message_id=message_id,
                attempts=Delivery.attempts + 1))
    if result.rowcount != 1:
        return None
    attempt_id = conn.execute(insert(DeliveryAttempt).values(
        delivery_id=row.id, at=now, outcome=STARTED, error="")).inserted_primary_key[0]
    return Claim(row.id, token, attempt_id, row.attempts + 1, message_id)


def mark_handed_over(conn: Connection, claim: Claim) -> bool:
    """Record that the DATA command is about to go out; False if the lease is no longer ours."""
    if not _still_ours(conn, claim):
        return False
    conn.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == claim.attempt_id)
                 .values(outcome=HANDED_OVER))
    return True


def _still_ours(conn: Connection, claim: Claim) -> bool:
    query = _locking(conn, select(Delivery.id).where(
        Delivery.id == claim.delivery_id, Delivery.status == "sending", Delivery.lease_owner == claim.token))
    return conn.execute(query).first() is not None


def finish(conn: Connection, claim: Claim, *, outcome: str, error: str, values: dict) -> bool:
    """Record an attempt's result and release the lease; False (nothing written) if the lease was lost."""
    result = conn.execute(
        update(Delivery)
        .where(Delivery.id == claim.delivery_id, Delivery.status == "sending", Delivery.lease_owner == claim.token)
        .values(lease_owner="", lease_until=None, **values))
    if result.rowcount != 1:
        return False
    conn.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == claim.attempt_id)
                 .values(outcome=outcome, error=error))
    return True


@dataclass(frozen=True)
class Recovered:
    delivery_id: int
    retried: bool  # False: it may have been delivered (or attempts are used up), so it was not retried
    message_id: str


def recover_expired(conn: Connection, *, now: datetime, max_attempts: int) -> list[Recovered]:
    """Release `sending` rows whose worker died (lease expired).

    Interrupted before DATA: nothing reached the server, so the row is pending again (same Message-ID).
    Interrupted after DATA was issued: the server may have delivered it; it is marked failed with the
    reason "interrupted" and not resent automatically (docs/delivery.md argues why); "send again" resends
    it with the same Message-ID.
    """
    rows = conn.execute(_locking(conn, select(Delivery.id, Delivery.message_id, Delivery.attempts).where(
        Delivery.status == "sending", Delivery.lease_until < now))).all()
    recovered = []
    for row in rows:
        last = conn.execute(select(DeliveryAttempt.id, DeliveryAttempt.outcome)
                            .where(DeliveryAttempt.delivery_id == row.id)
                            .order_by(DeliveryAttempt.id.desc()).limit(1)).first()
        guard = (Delivery.id == row.id, Delivery.status == "sending", Delivery.lease_until < now)
        if last is not None and last.outcome == HANDED_OVER:
            error = (f"the worker stopped after handing the message to the SMTP server (Message-ID "
                     f"{row.message_id}); it may have been delivered, so it is not resent automatically")
            values = dict(status="failed", reason=INTERRUPTED_REASON, last_error=error, next_attempt_at=None)
            retried = False
        elif row.attempts >= max_attempts:
            error = "the worker stopped before sending, and the attempts are used up"
            values = dict(status="failed", reason="attempts exhausted", last_error=error, next_attempt_at=None)
            retried = False
        else:
            error = "the worker stopped before sending; nothing reached the SMTP server, retrying"
            values = dict(status="pending", last_error=error, next_attempt_at=now)
            retried = True
        result = conn.execute(update(Delivery).where(*guard).values(lease_owner="", lease_until=None, **values))
        if result.rowcount != 1:
            continue
        if last is not None and last.outcome in (STARTED, HANDED_OVER):
            conn.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == last.id)
                         .values(outcome=INTERRUPTED, error=error))
        recovered.append(Recovered(row.id, retried, row.message_id))
    return recovered
