"""Login throttling by client address and by (address, user name), kept in the process. Pure but for the clock.

Why these two keys (issue 13, item 3):
- by (address, name): guessing one user's password from one address stops after a few failures, but only for
  that address, so a stranger elsewhere cannot lock an admin out (a lock per user name would let anyone do it);
- by address: one address trying many names (or many passwords) stops too, before it costs a password hash each.
Names are counted as typed (not as users), so unknown and real names behave identically and the answers reveal
nothing about which users exist.

The web UI uses DatabaseLoginThrottle: the counts live in the login_failure table, so every gunicorn worker
(and a restart) sees the same ones. LoginThrottle keeps them in the process (one worker; the unit tests). Both
apply the same rule, count_failure().
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    failures: int
    window_start: float
    locked_until: float = 0.0


def count_failure(entry: _Entry | None, now: float, limit: int, window_seconds: float,
                  lock_seconds: float) -> _Entry:
    """One more failure for a key: a new window when the last one is over; the limit locks the key (pure)."""
    if entry is None or now - entry.window_start >= window_seconds:
        entry = _Entry(0, now, entry.locked_until if entry else 0.0)
    entry.failures += 1
    if entry.failures >= limit:
        entry.failures, entry.window_start, entry.locked_until = 0, now, now + lock_seconds
    return entry


class LoginThrottle:
    """Count failed logins per key in fixed windows; a key that reaches its limit is locked for a while."""

    def __init__(self, pair_limit: int = 5, address_limit: int = 20, window_seconds: float = 15 * 60,
                 lock_seconds: float = 15 * 60, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.pair_limit, self.address_limit = pair_limit, address_limit
        self.window_seconds, self.lock_seconds = window_seconds, lock_seconds
        self.max_entries = max_entries  # many addresses (IPv6) must not grow the process without bound
        self.clock = clock
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(address: str, username: str) -> tuple[tuple, tuple]:
        return ("address", address), ("pair", address, username.strip().casefold())

    def retry_after(self, address: str, username: str) -> int:
        """Seconds until this address may try this name again (0: it may try now)."""
        now = self.clock()
        with self._lock:
            waits = [entry.locked_until - now for key in self._keys(address, username)
                     if (entry := self._entries.get(key)) is not None]
        return max([0, *(math.ceil(w) for w in waits)])

    def failed(self, address: str, username: str) -> None:
        now = self.clock()
        address_key, pair_key = self._keys(address, username)
        with self._lock:
            for key, limit in ((address_key, self.address_limit), (pair_key, self.pair_limit)):
                entry = count_failure(self._entries.get(key), now, limit, self.window_seconds, self.lock_seconds)
                self._entries[key] = entry
                self._entries.move_to_end(key)
            self._prune(now)

    def succeeded(self, address: str, username: str) -> None:
        """A right password resets this address's count for this name (not the address's own count)."""
        with self._lock:
            self._entries.pop(self._keys(address, username)[1], None)

    def _prune(self, now: float) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # the least recently failed
        if len(self._entries) > self.max_entries // 2:
            stale = [key for key, e in self._entries.items()
                     if e.locked_until <= now and now - e.window_start >= self.window_seconds]
            for key in stale:
                del self._entries[key]


def _db_key(key: tuple) -> str:
    """A table key for a throttle key: the address as is, a name only as a hash (any length, never shown)."""
    if key[0] == "address":
        return "a:" + key[1][:200]
    return "p:" + hashlib.sha256("\0".join(key[1:]).encode("utf-8", "surrogatepass")).hexdigest()


class DatabaseLoginThrottle(LoginThrottle):
    """The same rule, with the counts in the login_failure table (shared by every worker, kept over restarts).

    `session` is a SQLAlchemy session; each call commits its own short transaction. The clock is wall-clock
    time (time.time), since the rows outlive the process.
    """

    def __init__(self, session_factory: Callable, pair_limit: int = 5, address_limit: int = 20,
                 window_seconds: float = 15 * 60, lock_seconds: float = 15 * 60,
                 clock: Callable[[], float] = time.time):
        super().__init__(pair_limit, address_limit, window_seconds, lock_seconds, clock=clock)
        self._session = session_factory

    def retry_after(self, address: str, username: str) -> int:
        from callrec.models import LoginFailure

        now = self.clock()
        keys = [_db_key(k) for k in self._keys(address, username)]
        session = self._session()
        rows = session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys))).all()
        session.rollback()  # a read: end the transaction, hold nothing
        waits = [row.locked_until.timestamp() - now for row in rows if row.locked_until is not None]
        return max([0, *(math.ceil(w) for w in waits)])

    def failed(self, address: str, username: str) -> None:
        for _attempt in range(3):
            try:
                self._count(address, username)
                return
            except (IntegrityError, OperationalError):
                # Another worker inserted the same key at the same moment (PostgreSQL), or wrote since this
                # transaction's snapshot (SQLite's WAL refuses the upgrade to a write): count again.
                self._session().rollback()
        logger.warning("login throttle: could not count a failed login from %s", address)

    def _count(self, address: str, username: str) -> None:
        from callrec.models import LoginFailure

        now = self.clock()
        session = self._session()
        address_key, pair_key = self._keys(address, username)
        # Take the write lock first: SQLite then serialises concurrent counts (its SELECT ... FOR UPDATE is a
        # plain SELECT, and a read would not even open the transaction); PostgreSQL locks the rows below.
        session.execute(update(LoginFailure).where(LoginFailure.key == _db_key(address_key))
                        .values(failures=LoginFailure.failures))
        for key, limit in ((address_key, self.address_limit), (pair_key, self.pair_limit)):
            row = session.scalar(select(LoginFailure).where(LoginFailure.key == _db_key(key)).with_for_update())
            entry = None if row is None else _Entry(row.failures, row.window_start.timestamp(),
                                                    row.locked_until.timestamp() if row.locked_until else 0.0)
            entry = count_failure(entry, now, limit, self.window_seconds, self.lock_seconds)
            if row is None:
                row = LoginFailure(key=_db_key(key))
                session.add(row)
            row.failures = entry.failures
            row.window_start = _utc(entry.window_start)
            row.locked_until = _utc(entry.locked_until) if entry.locked_until else None
        stale = _utc(now - max(self.window_seconds, self.lock_seconds))
        session.execute(delete(LoginFailure).where(
            LoginFailure.window_start < stale,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until < _utc(now))))
        session.commit()

    def succeeded(self, address: str, username: str) -> None:
        from callrec.models import LoginFailure

        session = self._session()
        session.execute(delete(LoginFailure).where(LoginFailure.key == _db_key(self._keys(address, username)[1])))
        session.commit()


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
