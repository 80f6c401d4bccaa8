"""Database access of the controller, off the event path.

psycopg2 and sqlite3 block the whole gevent hub while they wait, so every database call runs in ONE real OS
thread (gevent's ThreadPool of size 1; the controller does not monkey-patch). Greenlets wait on the result
without blocking the hub, and the single thread keeps the writes in order (a recording's row is inserted
before it is finalised). Writes go through `WriteQueue`: during a database outage they wait in memory and
are retried in order with a capped backoff, so the controller keeps recording and nothing is lost unless the
process itself dies (then the resync after a restart finalises what the database still says is recording).

Throughput: the queued writes are batched, up to `batch_size` jobs in ONE transaction per drain (a commit, i.e.
an fsync, per batch instead of per write); the file work of a finalisation (stat, SHA-256, WAV header) runs
before the batch's transaction opens, so the write lock is never held while a file is read. The queue is
bounded (`max_jobs`, default 100,000): past it a write is refused and logged at ERROR with what it carried
(`callrec_db_writes_dropped_total`); never silently. A refused insert is recreated by the finalisation, a refused
finalisation leaves the row `recording`, which the resync after a restart finalises.
"""
from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import shutil
import time
import wave
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import gevent
import gevent.event
from gevent.threadpool import ThreadPool
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from callrec import outbox
from callrec.models import (Account, CallLog, CallRequest, ControllerStatus, Delivery, LiveLeg, PolicyRevision,
                            Recording, Settings, db, utcnow)
from callrec.policy import EffectivePolicy

from .decisions import RecordingSettings

logger = logging.getLogger(__name__)

# Errors that mean "the database is not there": the write waits and is retried. Anything else (a constraint
# violation, a bug) is the write's own fault: retrying it forever would block every write behind it.
DB_DOWN_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class PolicySnapshot:
    revision: int
    policies: dict[str, EffectivePolicy]  # by account number
    settings: RecordingSettings


@dataclass(frozen=True)
class RecordingRow:
    """What the controller knows when it creates a Recording row."""

    call_key: str
    leg_uuid: str
    account: str
    direction: str
    trigger: str
    path: str
    caller: str
    callee: str


@dataclass(frozen=True)
class CallLogRow:
    """One call-log entry (callrec.models.CallLog) as the controller hands it to the write queue."""

    call_key: str
    leg_uuid: str
    account: str
    direction: str
    caller: str
    callee: str
    started_us: int
    ended_us: int
    decision: str
    code: str
    reason: str
    notes: tuple[str, ...] = ()


class Store:
    """Runs database work in the app context, in one dedicated thread."""

    # True while the WriteQueue runs a batch (in the database thread): no commit per write; the batch commits once.
    batching = False

    def __init__(self, app):
        self.app = app
        self.pool = ThreadPool(1)

    def call(self, fn: Callable, *args):
        """Run fn(*args) in the database thread inside an app context; wait for it (greenlet-friendly)."""
        ok, value = self.pool.apply(self._in_context, (fn, *args))
        if not ok:
            raise value
        return value

    def _in_context(self, fn, *args):
        # Exceptions travel back as values: raised inside the pool, gevent would print them as crashes.
        with self.app.app_context():
            try:
                return True, fn(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised in the calling greenlet
                try:
                    db.session.rollback()
                except Exception:  # noqa: BLE001 - the connection may be gone
                    pass
                return False, exc

    def close(self) -> None:
        self.pool.kill()

    # -- reads ------------------------------------------------------------------------------------------
    @staticmethod
    def read_revision() -> int:
        row = db.session.get(PolicyRevision, 1)
        return row.revision if row else 0

    @staticmethod
    def load_snapshot() -> PolicySnapshot:
        revision = Store.read_revision()
        settings_row = db.session.get(Settings, 1) or Settings(id=1)
        # fill defaults of a transient row
        settings = RecordingSettings(
            voicemail_numbers=tuple(settings_row.voicemail_number_list()) if settings_row.voicemail_numbers
            is not None else ("*98", "vmain", "4000"),
            dtmf_timeout_ms=settings_row.dtmf_timeout_ms or 3000,
            record_stereo=settings_row.record_stereo if settings_row.record_stereo is not None else True,
            record_sample_rate=settings_row.record_sample_rate or 8000,
            record_format=settings_row.record_format or "wav",
            min_recording_seconds=settings_row.min_recording_seconds
            if settings_row.min_recording_seconds is not None else 1.0,
        )
        policies = {acc.number: acc.effective_policy(settings_row)
                    for acc in db.session.scalars(select(Account)).unique()}
        db.session.rollback()
        return PolicySnapshot(revision, policies, settings)

    @staticmethod
    def open_recordings() -> list[dict]:
        rows = db.session.scalars(select(Recording).where(Recording.status == "recording")).unique()
        return [dict(id=r.id, call_key=r.call_uuid, leg_uuid=r.leg_uuid, account=r.account_number,
                     path=r.file_path, direction=r.direction, trigger=r.trigger,
                     pauses=pauses_from_row(r.paused_intervals)) for r in rows]

    # -- writes -----------------------------------------------------------------------------------------
    # The per-call writes (insert at start, finalisation + Delivery row at hangup) are SQLAlchemy Core statements
    # run in bulk: a WriteQueue batch of N of them costs two SELECTs (account ids, existing rows) and at most one
    # executemany per kind (INSERT recording, UPDATE recording, INSERT delivery), no ORM unit of work.
    @staticmethod
    def insert_recording(row: RecordingRow) -> int | None:
        """Create the Recording row (status recording), or return the existing one's id: one per call+account."""
        (result,) = bulk_write([_InsertOp(row)])
        _done()
        return result

    @staticmethod
    def finalise(row: RecordingRow, policy: EffectivePolicy | None, min_seconds: float,
                 target: str | None = None, inspected: tuple | None = None) -> str | None:
        """Finalise from the file and write the Delivery row in the same transaction (the outbox).

        `inspected`: `inspect_file(row.path, min_seconds)` computed before the transaction (used when the row's
        file is that path)."""
        (result,) = bulk_write([_FinaliseOp(row, policy, min_seconds, target, inspected)])
        _done()
        return result

    @staticmethod
    def log_call(row: CallLogRow) -> bool:
        """Insert one call-log entry (a WriteQueue batch inserts all of its entries in one executemany)."""
        bulk_log_calls([row])
        _done()
        return True

    @staticmethod
    def pending_requests(limit: int = 100) -> list[tuple[int, str, str, str, datetime]]:
        """(id, leg uuid, account, action, created_at) of the oldest pending CallRequests."""
        rows = db.session.execute(select(CallRequest.id, CallRequest.leg_uuid, CallRequest.account_number,
                                         CallRequest.action, CallRequest.created_at)
                                  .where(CallRequest.status == "pending")
                                  .order_by(CallRequest.id).limit(limit)).all()
        db.session.rollback()
        return [tuple(row) for row in rows]

    @staticmethod
    def finish_request(request_id: int, status: str, detail: str) -> bool:
        """Write a CallRequest's outcome (only once: a request that is no longer pending keeps its first one)."""
        db.session.execute(update(CallRequest).where(CallRequest.id == request_id, CallRequest.status == "pending")
                           .values(status=status, detail=detail[:2000], done_at=utcnow()))
        _done()
        return True

    @staticmethod
    def publish_live(node: str, rows: list[dict]) -> bool:
        """Replace this node's LiveLeg rows by `rows` (the account legs in calls in progress)."""
        db.session.execute(LiveLeg.__table__.delete().where(LiveLeg.node == node))
        if rows:
            now = utcnow()
            db.session.execute(insert(LiveLeg.__table__), [dict(row, node=node, updated_at=now) for row in rows])
        _done()
        return True

    @staticmethod
    def save_pauses(call_key: str, account: str, pauses: tuple[tuple[int, int], ...]) -> int:
        """Write a recording's PCI pause intervals (the whole list: a retried write changes nothing)."""
        value = [{"paused_at": _iso(start), "resumed_at": _iso(end) if end else None} for start, end in pauses]
        result = db.session.execute(update(_REC).where(_REC.c.call_uuid == call_key,
                                                       _REC.c.account_number == account)
                                    .values(paused_intervals=value))
        _done()
        return result.rowcount

    @staticmethod
    def heartbeat(node: str, connected: bool, core_uuid: str, last_event_at: datetime | None, detail: str) -> None:
        row = db.session.get(ControllerStatus, node)
        if row is None:
            row = ControllerStatus(node=node)
            db.session.add(row)
        row.connected, row.core_uuid = connected, core_uuid or row.core_uuid or ""
        if last_event_at is not None:
            row.last_event_at = last_event_at
        row.updated_at, row.detail = utcnow(), detail
        db.session.commit()


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat()


def _us(iso: str) -> int:
    when = datetime.fromisoformat(iso)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return round(when.timestamp() * 1e6)


def pauses_from_row(value) -> tuple[tuple[int, int], ...]:
    """A row's `paused_intervals` back as the tracker's (paused at, resumed at or 0) in µs (resync: a controller
    restarted mid-pause still knows the file is masked, so the resume code unmasks it)."""
    try:
        return tuple((_us(item["paused_at"]), _us(item["resumed_at"]) if item.get("resumed_at") else 0)
                     for item in value or ())
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("unreadable paused_intervals %r: ignored", value)
        return ()


def _done() -> None:
    """End of one write: commit it, unless inside a WriteQueue batch (the batch flushes and commits once)."""
    if not Store.batching:
        db.session.commit()


def inspect_file(path: str, min_seconds: float) -> tuple[str, str, int | None, str | None, float | None]:
    """(status, detail, size, sha256, duration) of a finished recording file."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return "missing", "the recording file does not exist", None, None, None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        with wave.open(path, "rb") as wav:
            rate = wav.getframerate()
            duration = wav.getnframes() / rate if rate else 0.0
    except (OSError, EOFError, wave.Error) as exc:
        return "failed", f"unreadable recording file: {exc}", size, digest.hexdigest(), None
    if duration < min_seconds:
        return ("too_short", f"{duration:.1f} s is shorter than the minimum of {min_seconds:g} s",
                size, digest.hexdigest(), duration)
    return "completed", "", size, digest.hexdigest(), round(duration, 3)


class _InsertOp:
    __slots__ = ("row",)

    def __init__(self, row: RecordingRow):
        self.row = row


class _FinaliseOp:
    __slots__ = ("row", "policy", "min_seconds", "target", "inspected")

    def __init__(self, row, policy, min_seconds, target=None, inspected=None):
        self.row, self.policy, self.min_seconds, self.target, self.inspected = row, policy, min_seconds, target, \
            inspected


_REC = Recording.__table__
_DELIVERY = Delivery.__table__
_ACCOUNT = Account.__table__
_SELECT_ACCOUNTS = select(_ACCOUNT.c.number, _ACCOUNT.c.id).where(
    _ACCOUNT.c.number.in_(bindparam("numbers", expanding=True)))
_SELECT_EXISTING = select(_REC.c.id, _REC.c.call_uuid, _REC.c.account_number, _REC.c.status, _REC.c.file_path) \
    .where(_REC.c.call_uuid.in_(bindparam("keys", expanding=True)))
_INSERT_RECORDING = insert(_REC)
_UPDATE_RECORDING = update(_REC).where(_REC.c.id == bindparam("b_id")).values(
    file_path=bindparam("b_file_path"), status=bindparam("b_status"), status_detail=bindparam("b_status_detail"),
    size_bytes=bindparam("b_size_bytes"), sha256=bindparam("b_sha256"),
    duration_seconds=bindparam("b_duration_seconds"), ended_at=bindparam("b_ended_at"))
_INSERT_DELIVERY = insert(_DELIVERY)


def bulk_write(ops: list) -> list:
    """Run insert/finalise operations, in order, with Core statements in bulk (in the caller's transaction, not
    committed). Same outcome as running them one by one: one row per (call key, account) -- an insert of a key
    that has a row returns that row's id, a finalisation of a key without one creates it --, a row is finalised
    once (a second finalisation returns None), each finalisation adds its Delivery row (`outbox.delivery_values`).
    Returns per op: insert -> the existing row's id, or None (new row); finalise -> the status, or None."""
    conn = db.session.connection()
    numbers = {op.row.account for op in ops}
    account_ids = dict(conn.execute(_SELECT_ACCOUNTS, {"numbers": list(numbers)}).all())
    keys = {op.row.call_key for op in ops}
    # (call key, account) -> [id or None, status, file_path, insert params (new row) or None]
    state: dict[tuple[str, str], list] = {}
    for rec_id, call_uuid, account_number, status, file_path in conn.execute(
            _SELECT_EXISTING, {"keys": list(keys)}):
        if account_number in numbers:
            state.setdefault((call_uuid, account_number), [rec_id, status, file_path, None])
    inserts: list[dict] = []   # new rows (already final when finalised in this batch)
    updates: list[dict] = []   # finalisations of existing rows
    deliveries: list[tuple[list, dict]] = []  # (the row's state, delivery values without recording_id)
    results = []
    now = utcnow()
    for op in ops:
        row = op.row
        key = (row.call_key, row.account)
        entry = state.get(key)
        if isinstance(op, _InsertOp):
            if entry is None:
                state[key] = _new_row(row, account_ids, now, inserts)
            results.append(entry[0] if entry is not None else None)
            continue
        if entry is None:  # the insert never made it (e.g. database outage at the start): create it now
            entry = state[key] = _new_row(row, account_ids, now, inserts)
        if entry[1] != "recording":
            results.append(None)  # already finalised: never twice, never two deliveries
            continue
        file_path = entry[2]
        if file_path != row.path and row.path:
            file_path = row.path
        if op.target:  # the phone's own file lives under FreeSWITCH's record-path: copy it into our layout
            try:
                os.makedirs(os.path.dirname(op.target), exist_ok=True)
                shutil.copy2(file_path, op.target)
                file_path = op.target
            except OSError as exc:
                logger.warning("call %s: cannot copy %s into the recordings directory: %s", row.call_key,
                               file_path, exc)
        if op.inspected is not None and file_path == row.path:
            status, detail, size, digest, duration = op.inspected
        else:
            status, detail, size, digest, duration = inspect_file(file_path, op.min_seconds)
        entry[1], entry[2] = status, file_path
        params = entry[3]
        if params is not None:  # inserted by this batch: insert it final
            params.update(file_path=file_path, status=status, status_detail=detail, size_bytes=size,
                          sha256=digest, duration_seconds=duration, ended_at=now)
        else:
            updates.append(dict(b_id=entry[0], b_file_path=file_path, b_status=status, b_status_detail=detail,
                                b_size_bytes=size, b_sha256=digest, b_duration_seconds=duration, b_ended_at=now))
        deliveries.append((entry, outbox.delivery_values(status, op.policy, now)))
        results.append(status)
    if inserts:
        new_ids = _insert_recordings(conn, inserts)
        for params, rec_id in zip(inserts, new_ids):
            state[(params["call_uuid"], params["account_number"])][0] = rec_id
    if updates:
        conn.execute(_UPDATE_RECORDING, updates)
    if deliveries:
        rows = []
        for entry, values in deliveries:
            values["recording_id"] = entry[0]
            rows.append(values)
        conn.execute(_INSERT_DELIVERY, rows)
    return results


def _new_row(row: RecordingRow, account_ids: dict, now, inserts: list) -> list:
    params = dict(call_uuid=row.call_key, leg_uuid=row.leg_uuid, account_id=account_ids.get(row.account),
                  account_number=row.account, direction=row.direction, trigger=row.trigger,
                  caller=row.caller[:255], callee=row.callee[:255], file_path=row.path, status="recording",
                  status_detail="", started_at=now, ended_at=None, duration_seconds=None, size_bytes=None,
                  sha256=None)
    inserts.append(params)
    return [None, "recording", row.path, params]


def _insert_recordings(conn, inserts: list[dict]) -> list[int]:
    """INSERT the new rows in one executemany; their ids, in order."""
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        result = conn.execute(_INSERT_RECORDING.returning(_REC.c.id, sort_by_parameter_order=True), inserts)
        return list(result.scalars())
    conn.execute(_INSERT_RECORDING, inserts)
    ids = {(c, a): i for i, c, a, _s, _f in conn.execute(
        _SELECT_EXISTING, {"keys": list({p["call_uuid"] for p in inserts})})}
    return [ids[(p["call_uuid"], p["account_number"])] for p in inserts]


_CALL_LOG = CallLog.__table__
_INSERT_CALL_LOG = insert(_CALL_LOG)


def _when(us: int, default: datetime) -> datetime:
    return datetime.fromtimestamp(us / 1e6, timezone.utc) if us > 0 else default


def bulk_log_calls(rows: list[CallLogRow]) -> None:
    """INSERT call-log entries in one executemany (in the caller's transaction), with their accounts' ids."""
    conn = db.session.connection()
    account_ids = dict(conn.execute(_SELECT_ACCOUNTS, {"numbers": list({r.account for r in rows})}).all())
    now = utcnow()
    conn.execute(_INSERT_CALL_LOG, [dict(
        call_key=r.call_key[:64], leg_uuid=r.leg_uuid[:64], account_id=account_ids.get(r.account),
        account_number=r.account[:64], direction=r.direction, caller=r.caller[:255], callee=r.callee[:255],
        started_at=_when(r.started_us, now), ended_at=_when(r.ended_us, now), decision=r.decision,
        reason_code=r.code[:32], reason=r.reason, notes=json.dumps(list(r.notes))) for r in rows])


class _Job:
    __slots__ = ("label", "fn", "args", "prepare", "on_done")

    def __init__(self, label, fn, args, prepare, on_done):
        self.label, self.fn, self.args, self.prepare, self.on_done = label, fn, args, prepare, on_done


def _run_batch(jobs: list[_Job]) -> list:
    """In the database thread, in an app context: every job's `prepare()` (file work, no transaction open), then
    all jobs in one transaction, committed once. Returns the jobs' results."""
    prepared = []
    for job in jobs:
        value = None
        if job.prepare is not None:
            try:
                value = job.prepare()
            except Exception:  # noqa: BLE001 - the job then does the work itself
                logger.exception("database write %s: preparation failed", job.label)
            time.sleep(0)  # file work (hashing) between hub turns, not one long GIL hold
        prepared.append(value)
    Store.batching = True
    try:
        results: list = [None] * len(jobs)
        ops: list = []  # consecutive recording writes, run together by bulk_write
        op_slots: list[int] = []  # their jobs' positions in `results`
        call_logs: list = []  # the batch's call-log entries: one executemany (no other row depends on them)
        with db.session.no_autoflush:  # other jobs: one flush for the whole batch (at the commit)
            for index, (job, value) in enumerate(zip(jobs, prepared)):
                if job.fn is Store.log_call:
                    call_logs.append(job.args[0])
                    results[index] = True
                    continue
                if job.fn is Store.insert_recording:
                    ops.append(_InsertOp(*job.args))
                    op_slots.append(index)
                    continue
                if job.fn is Store.finalise:
                    ops.append(_FinaliseOp(*job.args, inspected=value))
                    op_slots.append(index)
                    continue
                if ops:
                    for slot, result in zip(op_slots, bulk_write(ops)):
                        results[slot] = result
                    ops, op_slots = [], []
                    time.sleep(0)
                results[index] = job.fn(*job.args, prepared=value) if job.prepare is not None else job.fn(*job.args)
                time.sleep(0)  # a real thread: hand the GIL to the event loop between writes, not every 5 ms
            if ops:
                for slot, result in zip(op_slots, bulk_write(ops)):
                    results[slot] = result
            if call_logs:
                bulk_log_calls(call_logs)
        Store.batching = False
        db.session.commit()
    finally:
        Store.batching = False
    return results


class WriteQueue:
    """Ordered database writes, batched, retried through outages (capped backoff), off the event path."""

    batch_size = 500

    def __init__(self, store: Store, *, backoff_initial: float = 0.5, backoff_max: float = 10.0, metrics=None,
                 max_jobs: int = 100000):
        self.store = store
        self.jobs: collections.deque[_Job] = collections.deque()
        self._wake = gevent.event.Event()
        self.idle = gevent.event.Event()
        self.idle.set()
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.metrics = metrics
        self.max_jobs = max_jobs
        self.db_ok = True
        self.dropped = 0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)

    def submit(self, label: str, fn: Callable, *args, prepare: Callable | None = None,
               on_done: Callable | None = None) -> bool:
        """Queue `fn(*args)` (with `prepared=prepare()` when given: run before the transaction); `on_done(result)`
        runs in the event loop after the commit. False (and an ERROR log) if the queue is over `max_jobs`."""
        if len(self.jobs) >= self.max_jobs:
            self.dropped += 1
            logger.error("database write %s refused: %d writes are already waiting (limit %d; database %s); "
                         "it carried %r", label, len(self.jobs), self.max_jobs,
                         "available" if self.db_ok else "unavailable", args)
            if self.metrics:
                self.metrics.db_dropped.inc()
            return False
        self.jobs.append(_Job(label, fn, args, prepare, on_done))
        self.idle.clear()
        self._wake.set()
        if self.metrics:
            self.metrics.db_pending.set(len(self.jobs))
        return True

    def _run(self) -> None:
        delay = self.backoff_initial
        while True:
            if not self.jobs:
                self.idle.set()
                self._wake.clear()
                self._wake.wait()
                continue
            batch = [self.jobs[i] for i in range(min(self.batch_size, len(self.jobs)))]
            try:
                results = self.store.call(_run_batch, batch)
            except DB_DOWN_ERRORS as exc:
                if self.db_ok:
                    logger.error("database unavailable (%s); %d write(s) wait in memory and are retried",
                                 str(exc).splitlines()[0], len(self.jobs))
                self.db_ok = False
                gevent.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            except Exception:  # noqa: BLE001 - a bad job must not block the queue forever
                if len(batch) > 1:
                    results = self._one_by_one(batch)
                    if results is None:  # the database went away meanwhile: retry the batch
                        self.db_ok = False
                        gevent.sleep(delay)
                        delay = min(delay * 2, self.backoff_max)
                        continue
                else:
                    logger.exception("database write %s failed; dropped", batch[0].label)
                    results = [None]
            else:
                if not self.db_ok:
                    logger.warning("database available again; catching up %d write(s)", len(self.jobs))
                self.db_ok = True
                delay = self.backoff_initial
            for job, result in zip(batch, results):
                self.jobs.popleft()
                if job.on_done is not None and result is not None:
                    try:
                        job.on_done(result)
                    except Exception:  # noqa: BLE001
                        logger.exception("after database write %s", job.label)
            if self.metrics:
                self.metrics.db_pending.set(len(self.jobs))

    def _one_by_one(self, batch: list[_Job]) -> list | None:
        """A batch failed on a bad job (not an outage): run its jobs one transaction each, to keep the good ones
        (None: the database became unavailable; the writes are idempotent, the batch is simply retried)."""
        results = []
        for job in batch:
            try:
                (result,) = self.store.call(_run_batch, [job])
            except DB_DOWN_ERRORS:
                return None
            except Exception:  # noqa: BLE001
                logger.exception("database write %s failed; dropped", job.label)
                result = None
            results.append(result)
        return results


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
