"""Call control from the web UI and the REST API (issue 12), through the shared database only.

The web UI writes a CallRequest row; `RemoteControl` polls the pending ones (every `interval`, 0.25 s by default, in
the database thread: never on the event path), decides with the same rules as the account's codes
(`decisions.decide_remote`) and hands the decisions to the sender, which writes the outcome once FreeSWITCH
answered; a refusal is written at once, with why. `LivePublisher` publishes the account legs of the calls in
progress (LiveLeg rows, the Calls now page) whenever they changed, at most once per `interval`.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import gevent

from .decisions import decide_remote, live_state
from .store import DB_DOWN_ERRORS, Store

logger = logging.getLogger(__name__)


class RemoteControl:
    max_age_seconds = 30.0  # an older request found pending waited for a controller that was not there: refused

    def __init__(self, store, tracker, policies, sender, writes, recordings_dir: str, interval: float = 0.25):
        self.store, self.tracker, self.policies = store, tracker, policies
        self.sender, self.writes = sender, writes
        self.recordings_dir, self.interval = recordings_dir, interval
        self.in_flight: set[int] = set()  # accepted, outcome not written yet: never carried out twice
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)

    def _run(self) -> None:
        while True:
            try:
                self.poll()
            except DB_DOWN_ERRORS as exc:
                logger.debug("call requests not polled (database unavailable: %s)", exc)
            except Exception:  # noqa: BLE001 - the poller must outlive a bad row
                logger.exception("call requests: poll failed")
            gevent.sleep(self.interval)  # a polling period, not a synchronisation

    def poll(self) -> int:
        """Carry out the pending requests; return how many were new."""
        rows = self.store.call(Store.pending_requests)
        fresh = [row for row in rows if row[0] not in self.in_flight]
        now = datetime.now(timezone.utc)
        for request_id, leg_uuid, account, action, created_at in fresh:
            self.in_flight.add(request_id)
            leg = self.tracker.legs.get(leg_uuid)
            policy = self.policies.policy_for(account)
            if created_at is not None and (now - created_at).total_seconds() > self.max_age_seconds:
                decisions, refusal = [], (f"the request waited {(now - created_at).total_seconds():.0f} s for the "
                                          "controller (was it running?): too late to act on it")
            else:
                decisions, refusal = decide_remote(self.tracker, leg, account, action, request_id, policy,
                                                   self.policies.settings, self.recordings_dir)
            if refusal is not None:
                logger.info("call leg %s: request %s to %s the recording of account %s refused: %s", leg_uuid,
                            request_id, action, account, refusal)
                self.writes.submit("call request outcome", Store.finish_request, request_id, "refused", refusal)
                continue
            logger.info("call leg %s: request %s to %s the recording of account %s accepted", leg_uuid,
                        request_id, action, account)
            self.sender.apply(decisions)
        if len(self.in_flight) > 10000:  # ids only grow: forget the oldest (long done)
            self.in_flight = set(sorted(self.in_flight)[-5000:])
        return len(fresh)


class LivePublisher:
    def __init__(self, tracker, policies, writes, node: str, interval: float = 1.0):
        self.tracker, self.policies, self.writes = tracker, policies, writes
        self.node, self.interval = node, interval
        self.published: list[dict] | None = None
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
        self.writes.submit("live legs", Store.publish_live, self.node, [])

    def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception:  # noqa: BLE001 - best effort, like the heartbeat
                logger.exception("live legs not published")
            gevent.sleep(self.interval)  # a publishing period, not a synchronisation

    def snapshot(self) -> list[dict]:
        rows = []
        for leg in list(self.tracker.legs.values()):
            if leg.hung_up or (leg.partner is None and not leg.recordings):
                continue  # not in a conversation (ringing, IVR, voicemail)
            for account in (*((leg.account,) if leg.account else ()), *leg.recordings):
                policy = self.policies.policy_for(account)
                if policy is None:
                    continue
                rec = leg.recordings.get(account)
                rows.append(dict(
                    leg_uuid=leg.uuid, account_number=account,
                    call_key=rec.call_key if rec else (leg.call_uuid or leg.uuid),
                    direction=rec.direction if rec else (leg.account_direction or ""),
                    caller=leg.caller_number[:255], callee=(leg.callee_number or leg.destination)[:255],
                    started_at=datetime.fromtimestamp(leg.created_us / 1e6, timezone.utc) if leg.created_us
                    else None, recording=live_state(leg, account), manual_control=policy.manual_control))
                break  # one row per leg (LiveLeg's key): the leg's own account, else its redirecting one
        return rows

    def publish(self) -> bool:
        rows = self.snapshot()
        if rows == self.published:
            return False
        self.published = rows
        self.writes.submit("live legs", Store.publish_live, self.node, rows)
        return True
