"""Login throttling by client address and by (address, user name), kept in the process. Pure but for the clock.

Why these two keys (issue 13, item 3):
- by (address, name): guessing one user's password from one address stops after a few failures, but only for
  that address, so a stranger elsewhere cannot lock an admin out (a lock per user name would let anyone do it);
- by address: one address trying many names (or many passwords) stops too, before it costs a password hash each.
Names are counted as typed (not as users), so unknown and real names behave identically and the answers reveal
nothing about which users exist.

Each gunicorn worker keeps its own counts (so the limits are per worker), and a restart forgets them.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Entry:
    failures: int
    window_start: float
    locked_until: float = 0.0


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
                entry = self._entries.get(key)
                if entry is None or now - entry.window_start >= self.window_seconds:
                    entry = _Entry(0, now, entry.locked_until if entry else 0.0)
                entry.failures += 1
                if entry.failures >= limit:
                    entry.failures, entry.window_start, entry.locked_until = 0, now, now + self.lock_seconds
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
