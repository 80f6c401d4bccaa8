"""The I/O shell around the pure decisions: event handlers (one class per concern) and the command sender.

Each handler does: parse the event into facts, update the tracker, look the policy up in the cache, decide,
hand the decisions to the `CommandSender`. The sender runs the commands of one leg in order in a greenlet of
that leg, so the event loop never waits for FreeSWITCH; database writes go to the `WriteQueue` thread.
"""
from __future__ import annotations

import collections
import json
import logging
import time
from dataclasses import replace

import gevent

from .decisions import (AdoptRecording, Announce, Decision, Finalise, LogCall, Note, NotRecorded, PauseRecording,
                        RefuseRecording, RenderContext, ResumeRecording, SavePauses, StartRecording, StopRecording,
                        close_pauses, decide_bridge, decide_conference, decide_dtmf, decide_foreign_recording,
                        decide_hangup, is_voicemail_leg, recording_path, render_command, reply_ok, safe_file_path)
from .esl import EslClient, EslError, EslEvent
from .facts import creation_facts, event_time_us, leg_facts, record_facts
from .policies import PolicyCache
from .store import CallLogRow, RecordingRow, Store, WriteQueue, inspect_file
from .tracker import NOT_RECORDED, RECORDED, GoneLeg, LegState, Tracker

logger = logging.getLogger(__name__)


class CommandSender:
    """Carries out decisions: per leg, in order, each command after the previous one succeeded."""

    def __init__(self, esl: EslClient, tracker: Tracker, policies: PolicyCache, writes: WriteQueue,
                 render: RenderContext, recordings_dir: str, metrics=None, call_log: bool = True):
        self.esl, self.tracker, self.policies, self.writes = esl, tracker, policies, writes
        self.call_log = call_log  # CALLREC_CALL_LOG: write the call log (issue 12); off only to measure its cost
        self.render = render
        self.recordings_dir = recordings_dir
        self.metrics = metrics
        self._queues: dict[str, collections.deque[Decision]] = {}
        self.started: list[StartRecording] = []  # for tests and the log; bounded below
        self.deferred: dict[tuple[str, str], Finalise] = {}  # (leg, path): waiting for FreeSWITCH's RECORD_STOP
        # StartRecording decisions whose uuid_record was written by the handler itself: id(decision) -> (the
        # rendered commands, the reply handle); the leg's greenlet only waits for the reply
        self._sent: dict[int, tuple[list, object]] = {}
        self._start_ctx: tuple | None = None  # (base RenderContext, stereo, sample rate, the derived context)
        self._started_by: dict = {}  # (metrics, trigger) -> labelled recordings_started child (labels() locks)

    def apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, (NotRecorded, Note)):
                self._explain_now(decision)  # no command: nothing to wait for, no greenlet
                continue
            queue = self._queues.get(decision.leg_uuid)
            if queue is None and isinstance(decision, LogCall):
                self._log_call(decision)  # nothing in flight on the leg: its explanation is final
                continue
            if queue is None:
                queue = self._queues[decision.leg_uuid] = collections.deque([decision])
                if isinstance(decision, StartRecording):
                    # nothing in flight for this leg: write the uuid_record now, within the event's own handling
                    # (the event loop does not wait for the reply; a backlog of events does not delay the command)
                    self._send_start(decision)
                gevent.spawn(self._drain, decision.leg_uuid, queue)
            else:
                queue.append(decision)

    def _render_start(self, decision: StartRecording) -> list:
        settings = self.policies.settings
        cached = self._start_ctx
        if (cached is None or cached[0] is not self.render or cached[1] != settings.record_stereo
                or cached[2] != settings.record_sample_rate):
            ctx = replace(self.render, stereo=settings.record_stereo, sample_rate=settings.record_sample_rate)
            cached = self._start_ctx = (self.render, settings.record_stereo, settings.record_sample_rate, ctx)
        return render_command(decision, cached[3])

    def _count_started(self, trigger: str) -> None:
        key = (self.metrics, trigger)
        child = self._started_by.get(key)
        if child is None:
            child = self._started_by[key] = self.metrics.recordings_started.labels(trigger)
        child.inc()

    def _send_start(self, decision: StartRecording) -> None:
        leg = self.tracker.get(decision.leg_uuid)
        if leg is None or leg.hung_up:
            return  # _start says why
        commands = self._render_start(decision)
        try:
            handle = self.esl.api_nowait(commands[0].text)
        except EslError:
            return  # _start sends (and reports) it again
        logger.debug("call leg %s: api sent: %s", decision.leg_uuid, commands[0].text)
        self._sent[id(decision)] = (commands, handle)

    def idle(self) -> bool:
        return not self._queues

    # -- the call log (issue 12): explanations kept on the leg, one row per account at hangup -----------------
    def _explain_now(self, decision: NotRecorded | Note) -> None:
        leg = self.tracker.get(decision.leg_uuid)
        if not isinstance(leg, LegState):
            return
        if isinstance(decision, NotRecorded):
            logger.debug("call leg %s: not recorded for account %s: %s", decision.leg_uuid, decision.account,
                         decision.reason)
            leg.explain(decision.account, decision.direction, NOT_RECORDED, decision.code, decision.reason)
        else:
            leg.note(decision.account, decision.direction, decision.text)

    def _request_done(self, request_id: int, status: str, detail: str) -> None:
        """Write a CallRequest's outcome (REST API / Calls now) once FreeSWITCH answered."""
        if request_id:
            self.writes.submit("call request outcome", Store.finish_request, request_id, status, detail)

    @staticmethod
    def _explain(leg, account: str, direction: str, decision: str, code: str, reason: str) -> None:
        if isinstance(leg, LegState):
            leg.explain(account, direction, decision, code, reason)

    @staticmethod
    def _note(leg, account: str, direction: str, text: str) -> None:
        if isinstance(leg, LegState):
            leg.note(account, direction, text)

    def _log_call(self, decision: LogCall) -> None:
        if not self.call_log:
            return
        leg = self.tracker.get(decision.leg_uuid)
        entry = leg.explained.get(decision.account) if isinstance(leg, LegState) and leg.explained else None
        if entry is not None and entry.reason:  # ran after decisions still in flight at hangup: the latest word
            decision = replace(decision, decision=entry.decision, code=entry.code, reason=entry.reason,
                               notes=tuple(entry.notes))
        row = CallLogRow(
            call_key=decision.call_key, leg_uuid=decision.leg_uuid, account=decision.account,
            direction=decision.direction, caller=decision.caller, callee=decision.callee,
            started_us=decision.started_us, ended_us=decision.ended_us, decision=decision.decision,
            code=decision.code, reason=decision.reason, notes=decision.notes)
        # DEBUG: the row is the record; an INFO line per leg at hangup costs the hub measurably (bench/RESULTS.md)
        logger.debug("call leg %s (call %s): account %s %s: %s", decision.leg_uuid, decision.call_key,
                     decision.account, decision.decision.replace("_", " "), decision.reason)
        self.writes.submit("call log", Store.log_call, row)

    def defer_finalise(self, decision: Finalise, grace_seconds: float) -> None:
        """Finalise once FreeSWITCH closed the file (its RECORD_STOP), at the latest after `grace_seconds`."""
        key = (decision.leg_uuid, decision.path)
        self.deferred[key] = decision
        gevent.spawn_later(grace_seconds, self.release_finalise, key, "no RECORD_STOP in time")

    def release_finalise(self, key: tuple[str, str], why: str = "RECORD_STOP") -> None:
        decision = self.deferred.pop(key, None)
        if decision is not None:
            logger.debug("call leg %s: finalising %s after %s", decision.leg_uuid, decision.path, why)
            self.apply([decision])

    def _drain(self, leg_uuid: str, queue: collections.deque) -> None:
        try:
            while queue:
                decision = queue[0]
                try:
                    self._execute(decision)
                except Exception:  # noqa: BLE001 - one bad decision must not block the leg's queue
                    logger.exception("call leg %s: %r failed", leg_uuid, decision)
                    if self.metrics:
                        self.metrics.handler_errors.labels(type(decision).__name__).inc()
                queue.popleft()
        finally:
            self._queues.pop(leg_uuid, None)

    def _api(self, leg_uuid: str, command: str, handle=None) -> tuple[bool, str]:
        """Send (or, with `handle`, finish) one command. A late reply is waited for while the connection lives
        (`patient`): giving up would drop a decision FreeSWITCH may well have carried out (an orphan file)."""
        try:
            if handle is None:
                handle = self.esl.api_nowait(command)
                logger.debug("call leg %s: api sent: %s", leg_uuid, command)
            reply = self.esl.wait_reply(handle, patient=True)
        except EslError as exc:
            return False, str(exc)
        return reply_ok(reply), reply.strip()

    def _execute(self, decision: Decision) -> None:
        leg = self.tracker.get(decision.leg_uuid)
        if isinstance(decision, StartRecording):
            self._start(decision, leg)
        elif isinstance(decision, StopRecording):
            if leg is None or leg.hung_up:
                logger.info("call leg %s: stop code after hangup; the recording ended with the call",
                            decision.leg_uuid)
                self._request_done(decision.request_id, "done", "the call ended, and the recording with it")
                return
            stop, *announcements = render_command(decision, self.render)
            ok, reply = self._api(decision.leg_uuid, stop.text)
            log = logger.info if ok else logger.warning
            log("call leg %s: recording for account %s stopped (%s)", decision.leg_uuid, decision.account, reply)
            self._request_done(decision.request_id, "done" if ok else "failed",
                               "recording stopped" if ok else f"FreeSWITCH did not stop the recording ({reply})")
            rec = leg.recordings.get(decision.account)
            self._note(leg, decision.account, rec.direction if rec else "", f"{decision.reason or 'stop'}: " + (
                "recording stopped" if ok else f"FreeSWITCH did not stop the recording ({reply})"))
            for command in announcements if ok else ():
                self._send_optional(decision.leg_uuid, command.text)
        elif isinstance(decision, AdoptRecording):
            logger.info("call leg %s: the phone's Record key started %s; adopted as a manual recording of "
                        "account %s", decision.leg_uuid, decision.path, decision.account)
            if self.metrics:
                self._count_started("phone")
            self._explain(leg, decision.account, decision.direction, RECORDED, "phone_key",
                          "manual: the phone's Record key")
            self.writes.submit("insert recording", Store.insert_recording,
                               self._row(leg, decision.account, decision.call_key, decision.direction, "phone",
                                         decision.path))
            for command in render_command(decision, self.render):
                self._send_optional(decision.leg_uuid, command.text)
        elif isinstance(decision, RefuseRecording):
            logger.warning("call leg %s: refused the phone's own recording %s: %s", decision.leg_uuid,
                           decision.path, decision.reason)
            if decision.account is not None:
                self._explain(leg, decision.account, getattr(leg, "account_direction", None) or "incoming",
                              NOT_RECORDED, "phone_key_refused", f"the phone's Record key was refused: "
                              f"{decision.reason}")
            for command in render_command(decision, self.render):
                ok, reply = self._api(decision.leg_uuid, command.text)
                if not ok:
                    logger.warning("call leg %s: %s -> %s", decision.leg_uuid, command.text, reply)
        elif isinstance(decision, (PauseRecording, ResumeRecording)):
            self._mask(decision, leg)
        elif isinstance(decision, SavePauses):
            self._save_pauses(decision)
        elif isinstance(decision, Finalise):
            self._finalise(decision, leg)
        elif isinstance(decision, LogCall):
            self._log_call(decision)
        elif isinstance(decision, Announce):
            if leg is not None and not leg.hung_up:
                logger.info("call leg %s: recording announced to the party that joined the call", decision.leg_uuid)
                for command in render_command(decision, self.render):
                    self._send_optional(decision.leg_uuid, command.text)

    def _start(self, decision: StartRecording, leg: LegState | None) -> None:
        uuid = decision.leg_uuid
        sent = self._sent.pop(id(decision), None)
        if sent is None and (leg is None or leg.hung_up):
            logger.info("call leg %s: gone before its recording could start", uuid)
            self._request_done(decision.request_id, "failed", "the call ended before the recording could start")
            self._explain(leg, decision.account, decision.direction, NOT_RECORDED, "ended_before_start",
                          "the call ended before its recording could start")
            self._forget(leg, decision)
            return
        commands, handle = sent if sent is not None else (self._render_start(decision), None)
        ok, reply = self._api(uuid, commands[0].text, handle)
        if not ok:
            logger.error("call leg %s: cannot start recording for account %s: %s", uuid, decision.account, reply)
            self._explain(leg, decision.account, decision.direction, NOT_RECORDED, "start_failed",
                          f"FreeSWITCH did not start the recording ({reply})")
            self._request_done(decision.request_id, "failed", f"FreeSWITCH did not start the recording ({reply})")
            if self.metrics:
                self.metrics.recordings_failed.inc()
            self._forget(leg, decision)
            return
        rec = leg.recordings.get(decision.account)
        if rec is not None:
            rec.confirmed = True
        if decision.trigger == "manual":
            self._note(leg, decision.account, decision.direction,
                       f"{decision.reason}: recording {'resumed' if decision.resume else 'started'}")
        self._explain(leg, decision.account, decision.direction, RECORDED,
                      "manual" if decision.trigger == "manual" else f"{decision.trigger}_{decision.direction}",
                      decision.reason or f"{decision.trigger} {decision.direction}")
        if self.metrics:
            self._count_started(decision.trigger)
        self._request_done(decision.request_id, "done", "recording resumed" if decision.resume
                           else "recording started")
        logger.info("call leg %s (call %s): %s for account %s (%s) to %s", uuid, decision.call_key,
                    "recording resumed" if decision.resume else f"{decision.trigger} recording started",
                    decision.account, decision.direction, decision.path)
        self.started.append(decision)
        if len(self.started) > 1000:
            del self.started[:500]
        if not decision.resume:
            self.writes.submit("insert recording", Store.insert_recording,
                               self._row(leg, decision.account, decision.call_key, decision.direction,
                                         decision.trigger, decision.path))
        for command in commands[1:]:
            self._send_optional(uuid, command.text)

    def _mask(self, decision: PauseRecording | ResumeRecording, leg: LegState | GoneLeg | None) -> None:
        """PCI pause/resume on the same file; the intervals reach the database only once FreeSWITCH accepted it."""
        pause = isinstance(decision, PauseRecording)
        if leg is None or leg.hung_up:
            logger.info("call leg %s: %s code after hangup; nothing to do", decision.leg_uuid,
                        "pause" if pause else "resume")
            return
        (command,) = render_command(decision, self.render)
        ok, reply = self._api(decision.leg_uuid, command.text)
        rec = leg.recordings.get(decision.account)
        if not ok:
            # the account believes the recording is paused (or running): say loudly that it is not
            logger.error("call leg %s: cannot %s the recording of account %s (%s): %s", decision.leg_uuid,
                         "pause" if pause else "resume", decision.account, decision.path, reply)
            if rec is not None and rec.pauses == decision.pauses:
                rec.paused = not pause
                rec.pauses = rec.pauses[:-1] if pause else rec.pauses[:-1] + ((rec.pauses[-1][0], 0),)
            return
        logger.info("call leg %s (call %s): recording of account %s %s (PCI): %s", decision.leg_uuid,
                    decision.call_key, decision.account, "paused, silence until resumed" if pause else "resumed",
                    decision.path)
        self._save_pauses(decision)

    def _save_pauses(self, decision: PauseRecording | ResumeRecording | SavePauses) -> None:
        self.writes.submit("save pauses", Store.save_pauses, decision.call_key, decision.account, decision.pauses)

    def _send_optional(self, uuid: str, command: str) -> None:
        """An announcement: its failure (the party hung up meanwhile) is logged and changes nothing else."""
        ok, reply = self._api(uuid, command)
        if not ok:
            logger.warning("call leg %s: %s -> %s", uuid, command, reply)

    def _forget(self, leg: LegState | None, decision: StartRecording) -> None:
        if leg is None:
            return
        rec = leg.recordings.get(decision.account)
        if rec is None:
            return
        if rec.confirmed:
            rec.active = False  # a resume failed: the file so far stays and is finalised at hangup
        else:
            del leg.recordings[decision.account]
            self.tracker.keys.pop((rec.call_key, rec.account), None)

    def _row(self, leg: LegState | None, account: str, call_key: str, direction: str, trigger: str,
             path: str) -> RecordingRow:
        caller = leg.caller_number if leg else ""
        callee = (leg.callee_number or leg.destination) if leg else ""
        return RecordingRow(call_key=call_key, leg_uuid=leg.uuid if leg else "", account=account,
                            direction=direction, trigger=trigger, path=path, caller=caller, callee=callee)

    def _finalise(self, decision: Finalise, leg: LegState | GoneLeg | None) -> None:
        try:
            self._submit_finalise(decision, None if isinstance(leg, GoneLeg) else leg)
        finally:
            # once all its recordings are finalised, a hung-up leg is remembered compact (tracker.GoneLeg)
            self.tracker.finalised(decision.leg_uuid, decision.account)

    def _submit_finalise(self, decision: Finalise, leg: LegState | None) -> None:
        # leg None: not tracked (resync), or a compact GoneLeg whose recordings were finalised already: the row
        # is finalised from the decision if the database still says `recording` (a finalisation runs once)
        rec = leg.recordings.get(decision.account) if leg else None
        if leg is not None and (rec is None or not rec.confirmed):
            return  # FreeSWITCH never accepted it: there is no file and no row
        direction = rec.direction if rec else "outgoing"
        trigger = rec.trigger if rec else "auto"
        row = self._row(leg, decision.account, decision.call_key, direction, trigger, decision.path)
        target = None
        if trigger == "phone" and not decision.path.startswith(self.recordings_dir.rstrip("/") + "/"):
            target = recording_path(self.recordings_dir, decision.call_key, decision.account,
                                    leg.created_us if leg else 0)
        policy = self.policies.policy_for(decision.account)
        min_seconds = self.policies.settings.min_recording_seconds
        metrics = self.metrics

        def inspect():  # the file work, before the write batch's transaction opens
            return inspect_file(row.path, min_seconds) if target is None and row.path else None

        def done(status):  # in the event loop, once committed
            logger.info("call leg %s (call %s): recording of account %s finalised: %s", row.leg_uuid,
                        row.call_key, row.account, status)
            if metrics:
                metrics.recordings_finalised.labels(status).inc()

        # Store.finalise jobs run in bulk with the batch's other recording writes (store.bulk_write)
        self.writes.submit("finalise recording", Store.finalise, row, policy, min_seconds, target, prepare=inspect,
                           on_done=done)


# ------------------------------------------------------------------------------------------- handlers
class Handlers:
    """Shared plumbing of the handler classes."""

    def __init__(self, tracker: Tracker, policies: PolicyCache, sender: CommandSender, recordings_dir: str):
        self.tracker, self.policies, self.sender = tracker, policies, sender
        self.recordings_dir = recordings_dir


class CallRecording(Handlers):
    """Auto recording on bridges (outgoing, incoming, redirected, never voicemail) and finalisation."""

    record_stop_grace_seconds = 10.0

    def __init__(self, *args, esl: EslClient, **kw):
        super().__init__(*args, **kw)
        self.esl = esl

    def on_channel_create(self, event: EslEvent) -> None:
        # only what the leg carried at creation (a caller's own Diversion): the rest comes with later events
        uuid, diversion = creation_facts(event.headers)
        if uuid:
            self.tracker.created(uuid, diversion)

    def on_channel_answer(self, event: EslEvent) -> None:
        leg = self.tracker.observe(leg_facts(event.headers))
        if is_voicemail_leg(leg, self.policies.settings.voicemail_numbers):
            if not leg.voicemail:
                logger.info("call leg %s: voicemail (%s, %s): never auto-recorded", leg.uuid, leg.destination,
                            leg.current_application)
            leg.voicemail = True

    def on_channel_bridge(self, event: EslEvent) -> None:
        headers = event.headers
        a_uuid = headers.get("Bridge-A-Unique-ID") or headers.get("Unique-ID", "")
        b_uuid = headers.get("Bridge-B-Unique-ID") or headers.get("Other-Leg-Unique-ID", "")
        facts = leg_facts(headers)
        if facts.uuid == a_uuid:
            self.tracker.observe(facts)
        elif facts.uuid == b_uuid:
            self.tracker.observe(facts)
        if not a_uuid or not b_uuid:
            logger.warning("call leg %s: CHANNEL_BRIDGE without both leg UUIDs", facts.uuid)
            return
        unknown = [u for u in (a_uuid, b_uuid) if not self.tracker.leg(u).known]
        if unknown:
            gevent.spawn(self._bridge_after_dump, a_uuid, b_uuid, unknown)
        else:
            self._bridge(a_uuid, b_uuid)

    def _bridge_after_dump(self, a_uuid: str, b_uuid: str, unknown: list[str]) -> None:
        for uuid in unknown:
            headers = dump_channel(self.esl, uuid)
            if headers:
                self.tracker.observe(leg_facts(headers))
        self._bridge(a_uuid, b_uuid)

    def _bridge(self, a_uuid: str, b_uuid: str) -> None:
        a, b = self.tracker.leg(a_uuid), self.tracker.leg(b_uuid)
        decisions = decide_bridge(self.tracker, a, b, self.policies.policy_for, self.policies.settings,
                                  self.recordings_dir)
        if a.voicemail:
            logger.info("call %s: bridged to voicemail (%s): not recorded for anyone", a_uuid, b.channel_name)
        self.sender.apply(decisions)

    def on_channel_unbridge(self, event: EslEvent) -> None:
        headers = event.headers
        for key in ("Bridge-A-Unique-ID", "Bridge-B-Unique-ID"):
            uuid = headers.get(key)
            leg = self.tracker.get(uuid) if uuid else None
            if leg is not None:
                leg.unbridge()
        self.tracker.observe(leg_facts(headers))

    def on_channel_hangup_complete(self, event: EslEvent) -> None:
        self.tracker.observe(leg_facts(event.headers))
        leg = self.tracker.hangup(event.headers.get("Unique-ID", ""), time.monotonic())
        if leg is None:
            return
        # Order-tolerant: FreeSWITCH normally closes a recording (RECORD_STOP) before CHANNEL_HANGUP_COMPLETE, but
        # not on every version; a file still open is finalised at its RECORD_STOP (or after a grace period).
        # hung up while paused: the pause lasted to the end of the file
        ended_us = event_time_us(event.headers) or int(time.time() * 1e6)
        self.sender.apply([save for rec in leg.recordings.values()
                           for save in close_pauses(rec, leg.uuid, ended_us)])
        now = []
        for decision in decide_hangup(leg, self.policies.policy_for, self.policies.settings.voicemail_numbers,
                                      event_time_us(event.headers)):
            rec = leg.recordings.get(decision.account) if isinstance(decision, Finalise) else None
            if rec is not None and rec.file_open:
                self.sender.defer_finalise(decision, self.record_stop_grace_seconds)
            else:
                now.append(decision)
        self.sender.apply(now)


class ManualControl(Handlers):
    """The account's start/stop codes, pressed on its own leg."""

    def on_dtmf(self, event: EslEvent) -> None:
        headers = event.headers
        uuid = headers.get("Unique-ID", "")
        digit = headers.get("DTMF-Digit", "")
        if not uuid or not digit:
            return
        leg = self.tracker.get(uuid)
        if leg is None or leg.hung_up:
            return
        leg.update(leg_facts(headers))
        policy = self.policies.policy_for(leg.account) if leg.account else None
        now_us = event_time_us(headers) or int(time.time() * 1e6)
        decisions = decide_dtmf(self.tracker, leg, digit, now_us, policy, self.policies.settings,
                                self.recordings_dir)
        if decisions:
            kind = {StartRecording: "start", StopRecording: "stop", PauseRecording: "pause",
                    ResumeRecording: "resume"}.get(type(decisions[0]), "?")
            logger.info("call leg %s: account %s pressed its %s code", uuid, leg.account, kind)
        self.sender.apply(decisions)


class PhoneRecordKey(Handlers):
    """RECORD_START we did not ask for: the phone's own Record key (or voicemail, which we leave alone)."""

    phone_key_checks = 3
    phone_key_retry_seconds = 0.05

    def __init__(self, *args, esl: EslClient, **kw):
        super().__init__(*args, **kw)
        self.esl = esl

    def on_record_start(self, event: EslEvent) -> None:
        facts = record_facts(event.headers)
        if facts.ours:
            leg = self.tracker.get(facts.uuid)
            rec = leg.recordings.get(facts.account) if leg is not None else None
            if rec is not None and rec.path == facts.path:
                rec.file_open = True
            return
        leg = self.tracker.observe(leg_facts(event.headers))
        if facts.phone_key or leg.account is None or facts.path in leg.foreign or not safe_file_path(facts.path):
            self._decide(leg, facts.path, facts.phone_key)
        else:
            # On a real switch the Record key's RECORD_START comes *before* mod_sofia sets sofia_record_file (the
            # RECV_INFO follows at the same timestamp): ask the leg, off the event loop, before deciding.
            gevent.spawn(self._ask_then_decide, leg, facts.path)

    def _ask_then_decide(self, leg: LegState, path: str) -> None:
        phone_key = False
        for _ in range(self.phone_key_checks):
            command = f"uuid_getvar {leg.uuid} sofia_record_file"
            logger.debug("call leg %s: api sent: %s", leg.uuid, command)
            try:
                reply = self.esl.api(command)
            except EslError as exc:
                logger.warning("call leg %s: cannot ask whose recording %s is: %s", leg.uuid, path, exc)
                break
            if reply.strip() == path:
                phone_key = True
                break
            gevent.sleep(self.phone_key_retry_seconds)  # sofia sets the variable right after the start
        if not leg.hung_up:
            self._decide(leg, path, phone_key)

    def _decide(self, leg: LegState, path: str, phone_key: bool) -> None:
        seen = set(leg.foreign)
        policy = self.policies.policy_for(leg.account) if leg.account else None
        root_owned = path.startswith(self.recordings_dir.rstrip("/") + "/")
        decisions = decide_foreign_recording(self.tracker, leg, path, phone_key, policy, root_owned)
        if path not in seen and leg.foreign.get(path) == "unsafe":
            logger.warning("call leg %s: refused recording path %r from FreeSWITCH (not a plain file path; it is "
                           "never put into a command)", leg.uuid, path)
        elif not decisions and leg.foreign.get(path) == "ignored" and path not in seen:
            logger.info("call leg %s: recording %s was started by someone else (not by us, not by the phone's "
                        "Record key): left alone", leg.uuid, path)
        self.sender.apply(decisions)

    def on_record_stop(self, event: EslEvent) -> None:
        facts = record_facts(event.headers)
        leg = self.tracker.get(facts.uuid)
        if leg is None:
            return
        for rec in leg.recordings.values():
            if rec.path == facts.path and (facts.ours or rec.trigger == "phone"):
                rec.file_open = False
                if rec.active and (rec.trigger == "phone" or facts.completion_cause.startswith("success-maxtime")):
                    rec.active = False
                    # the limit ended it while paused: the pause ends with it (a new start records unmasked)
                    self.sender.apply(close_pauses(rec, leg.uuid, event_time_us(event.headers)
                                                   or int(time.time() * 1e6)))
        self.sender.release_finalise((facts.uuid, facts.path))


class Conferences(Handlers):
    """A leg joining a conference on the switch is in a conversation: auto-recorded like a bridge."""

    def on_conference_maintenance(self, event: EslEvent) -> None:
        headers = event.headers
        if headers.get("Action") != "add-member":
            return
        uuid = headers.get("Unique-ID", "")
        if not uuid:
            return
        leg = self.tracker.observe(leg_facts(headers)) if headers.has_header_prefix("variable_") \
            else self.tracker.get(uuid)
        if leg is None or leg.hung_up:
            return
        policy = self.policies.policy_for(leg.account) if leg.account else None
        decisions = decide_conference(self.tracker, leg, policy, self.policies.settings, self.recordings_dir)
        if decisions:
            logger.info("call leg %s: account %s joined conference %s", uuid, leg.account,
                        headers.get("Conference-Name", "?"))
        self.sender.apply(decisions)


def dump_channel(esl: EslClient, uuid: str) -> dict[str, str] | None:
    """`uuid_dump <uuid> json` as a header dict, or None if the channel is gone or FreeSWITCH is away."""
    try:
        reply = esl.api(f"uuid_dump {uuid} json")
    except EslError as exc:
        logger.warning("call leg %s: uuid_dump failed: %s", uuid, exc)
        return None
    if not reply.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(reply)
    except ValueError:
        logger.warning("call leg %s: uuid_dump returned malformed JSON", uuid)
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
