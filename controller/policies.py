"""Per-account effective policies, cached; invalidated by polling PolicyRevision (no DB round trip per event).

The whole snapshot (every account's EffectivePolicy plus the settings the decisions need) is reloaded when
the revision counter changed. Between polls, events read plain dicts. During a database outage the last
known snapshot stays in use and the log says so once per outage.
"""
from __future__ import annotations

import logging

import gevent
import gevent.event

from callrec.policy import EffectivePolicy

from .decisions import RecordingSettings
from .store import DB_DOWN_ERRORS, PolicySnapshot, Store

logger = logging.getLogger(__name__)


class PolicyCache:
    def __init__(self, store: Store, refresh_seconds: float = 2.0):
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.snapshot = PolicySnapshot(-1, {}, RecordingSettings())
        self.db_ok = True
        self.changed = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None

    def policy_for(self, number: str) -> EffectivePolicy | None:
        return self.snapshot.policies.get(number)

    @property
    def settings(self) -> RecordingSettings:
        return self.snapshot.settings

    @property
    def revision(self) -> int:
        return self.snapshot.revision

    def refresh(self) -> bool:
        """Reload when the revision moved; return False while the database is unavailable."""
        try:
            revision = self.store.call(Store.read_revision)
            if revision != self.snapshot.revision:
                snapshot = self.store.call(Store.load_snapshot)
                self.snapshot = snapshot
                logger.info("policies loaded: revision %s, %d account(s)", snapshot.revision,
                            len(snapshot.policies))
                self.changed.set()
                self.changed.clear()
        except DB_DOWN_ERRORS as exc:
            if self.db_ok:
                logger.error("database unavailable (%s): keeping the last known policies (revision %s, "
                             "%d account(s))", str(exc).splitlines()[0], self.snapshot.revision,
                             len(self.snapshot.policies))
            self.db_ok = False
            return False
        if not self.db_ok:
            logger.warning("database available again: policies at revision %s", self.snapshot.revision)
        self.db_ok = True
        return True

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)

    def _run(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the poller must survive anything
                logger.exception("policy refresh failed")
            gevent.sleep(self.refresh_seconds)
