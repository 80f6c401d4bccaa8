"""Recording decisions as data (DESIGN §3): event + leg state + policy -> [Decision]; render -> API commands.

Pure: no gevent, greenswitch, Flask, SQLAlchemy or sockets (tests/unit/test_controller_purity.py checks it).
The shell applies a decision to the tracker right away (so a second event can never start a second recording)
and sends its commands in order, each only after the previous one succeeded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Protocol
from urllib.parse import quote

from callrec.policy import CodePair, EffectivePolicy

from .facts import INCOMING, OUTGOING, REDIRECTED
from .tracker import NOT_RECORDED, LegState, OwnRecording, Tracker

AUTO, MANUAL, PHONE = "auto", "manual", "phone"
ANNOUNCEMENT = "callrec/call-recording-started.wav"
STOP_ANNOUNCEMENT = "callrec/call-recording-stopped.wav"

PolicyLookup = Callable[[str], "EffectivePolicy | None"]


class SettingsView(Protocol):
    voicemail_numbers: tuple[str, ...]
    dtmf_timeout_ms: int
    record_stereo: bool
    record_sample_rate: int
    record_format: str
    min_recording_seconds: float


@dataclass(frozen=True)
class RecordingSettings:
    """The settings the decisions need, as plain values (a snapshot of the Settings row)."""

    voicemail_numbers: tuple[str, ...] = ("*98", "vmain", "4000")
    dtmf_timeout_ms: int = 3000
    record_stereo: bool = True
    record_sample_rate: int = 8000
    record_format: str = "wav"
    min_recording_seconds: float = 1.0


# ------------------------------------------------------------------------------------------ decisions
@dataclass(frozen=True)
class StartRecording:
    """Start (or resume) one account's recording; then announce it to the legs in `announce_to`.

    One event announces once, whatever number of recordings it starts: only the event's last start carries the
    legs (every party of the call), so its announcement follows every `uuid_record` of that event.
    """

    leg_uuid: str
    call_key: str
    account: str
    direction: str
    trigger: str
    path: str
    announce_to: tuple[str, ...] = ()
    resume: bool = False
    reason: str = ""  # why, in words, for the call log ("auto outgoing: ...", "start code *44 pressed")
    request_id: int = 0  # a CallRequest (REST API, Calls now) this carries out: its outcome is written back


@dataclass(frozen=True)
class StopRecording:
    leg_uuid: str
    account: str
    path: str
    announce_to: tuple[str, ...] = ()
    reason: str = ""  # for the call log ("stop code *45 pressed")
    request_id: int = 0  # a CallRequest this carries out


@dataclass(frozen=True)
class AdoptRecording:
    """The phone's own Record key started a recording: keep it as a manual recording of the account, and announce
    it to the call's parties like any other start (the file is already recording, so it holds the announcement)."""

    leg_uuid: str
    call_key: str
    account: str
    direction: str
    path: str
    announce_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefuseRecording:
    """The phone's own Record key started a recording the account may not make: stop it, disable the key."""

    leg_uuid: str
    account: str | None
    path: str
    reason: str


@dataclass(frozen=True)
class Finalise:
    leg_uuid: str
    call_key: str
    account: str
    path: str


@dataclass(frozen=True)
class Announce:
    """Announce a recording already running to a party who joined the call after it was announced (a transfer or a
    forward): mixed into `legs`' audio, which the new party hears."""

    leg_uuid: str
    legs: tuple[str, ...]


@dataclass(frozen=True)
class NotRecorded:
    """No recording for `account` on this leg, and why (`code` for machines, `reason` in words): no command, only
    the call log's entry (issue 12)."""

    leg_uuid: str
    account: str
    direction: str
    code: str
    reason: str


@dataclass(frozen=True)
class Note:
    """Something the call log tells about `account`'s leg besides its decision: a code pressed and what it did, a
    redirect by a party that is not an account. No command."""

    leg_uuid: str
    account: str
    direction: str
    text: str


@dataclass(frozen=True)
class LogCall:
    """The leg hung up: write `account`'s call-log entry. `decision`/`code`/`reason`/`notes` are what the leg's
    decisions explained by then, else what hangup alone can tell (never connected, voicemail); a start still in
    flight at hangup may change them: the sender runs this after it and then reads the leg again."""

    leg_uuid: str
    account: str
    direction: str
    call_key: str
    caller: str
    callee: str
    started_us: int
    ended_us: int
    decision: str
    code: str
    reason: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PauseRecording:
    """PCI pause: FreeSWITCH writes silence into the same file (`uuid_record <leg> mask <path>`) until the resume.
    `pauses` is the recording's intervals so far, the new one open, for the database."""

    leg_uuid: str
    call_key: str
    account: str
    path: str
    pauses: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ResumeRecording:
    """End of a PCI pause: `uuid_record <leg> unmask <path>`; `pauses` with the interval closed."""

    leg_uuid: str
    call_key: str
    account: str
    path: str
    pauses: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SavePauses:
    """A pause ended without an unmask (stopped or hung up while paused): only the intervals are written."""

    leg_uuid: str
    call_key: str
    account: str
    pauses: tuple[tuple[int, int], ...]


Decision = (StartRecording | StopRecording | AdoptRecording | RefuseRecording | Finalise | Announce | NotRecorded
            | Note | LogCall | PauseRecording | ResumeRecording | SavePauses)


@dataclass(frozen=True)
class Command:
    text: str
    required: bool = True  # a failed required command cancels the rest of its decision


@dataclass(frozen=True)
class RenderContext:
    sounds_dir: str
    limit_seconds: int = 0
    stereo: bool = True
    sample_rate: int = 8000


# --------------------------------------------------------------------------------------------- paths
_ALL_SAFE = re.compile(r"[A-Za-z0-9+\-_.]+").fullmatch  # already safe: _safe() returns it as it is
_UNRESERVED = re.compile(r"[A-Za-z0-9_.\-~]*").fullmatch  # quote(v, safe="") returns such a value unchanged


def _safe(value: str) -> str:
    if _ALL_SAFE(value) is not None:
        return value
    return "".join(ch if ch.isalnum() or ch in "+-_." else "_" for ch in value) or "_"


def _quote(value: str) -> str:
    return value if _UNRESERVED(value) is not None else quote(value, safe="")


def recording_path(root: str, call_key: str, account: str, created_us: int, ext: str = "wav") -> str:
    """`<root>/YYYY/MM/DD/<call-uuid>_<account>.<ext>`, dated by the leg's creation (stable across restarts)."""
    when = datetime.fromtimestamp(created_us / 1e6, timezone.utc) if created_us else datetime.now(timezone.utc)
    return f"{root.rstrip('/')}/{when:%Y/%m/%d}/{_safe(call_key)}_{_safe(account)}.{_safe(ext)}"


_SAFE_PATH = re.compile(r"/[A-Za-z0-9_+@%=:,./-]{1,1000}").fullmatch


def safe_file_path(path: str) -> bool:
    """A file path from an event that may go into an API command: absolute, no spaces, quotes, braces, `..` or
    control characters. The phone's Record key builds its path from `record-template`, which holds values the
    caller chooses (`${caller_id_number}`): anything else is refused, never sent."""
    return _SAFE_PATH(path) is not None and "/../" not in path + "/"


# --------------------------------------------------------------------------------------------- voicemail
def is_voicemail_leg(leg: LegState, voicemail_numbers: tuple[str, ...]) -> bool:
    """A leg that calls voicemail retrieval, runs the voicemail application, or is the voicemail loopback."""
    if leg.destination and leg.destination in voicemail_numbers:
        return True
    if leg.current_application == "voicemail":
        return True
    name = leg.channel_name
    if name.startswith("loopback/") and "voicemail" in name:
        return True
    data = leg.current_application_data
    return leg.current_application == "bridge" and "loopback/app=voicemail" in data


def voicemail_reason(leg: LegState, voicemail_numbers: tuple[str, ...]) -> tuple[str, str] | None:
    """(code, words) when the leg is a voicemail call: retrieval (an access number, the voicemail application) or the
    stock no-answer divert (`loopback/app=voicemail`); None otherwise. Same tests as `is_voicemail_leg`."""
    if leg.destination and leg.destination in voicemail_numbers:
        return "voicemail_retrieval", f"a call to voicemail retrieval ({leg.destination}) is never recorded"
    if leg.current_application == "voicemail":
        return "voicemail_retrieval", "a call answered by the voicemail application is never recorded"
    if is_voicemail_leg(leg, voicemail_numbers):
        return "voicemail_divert", "diverted to voicemail: a call to a voice mailbox is never recorded"
    return None


# ------------------------------------------------------------------------------------------ reasons
def config_words(policy: EffectivePolicy) -> str:
    """Whose configuration decided: `product "Basic"` or `account 1001's own configuration` (Override on)."""
    source = policy.config_source
    if source.kind == "product":
        return f'product "{source.name}"'
    return f"account {source.name}'s own configuration"


def auto_reason(policy: EffectivePolicy, direction: str) -> str:
    return f"auto {direction}: {config_words(policy)} records {direction} calls automatically"


def why_not_auto(policy: EffectivePolicy, direction: str) -> tuple[str, str]:
    """(code, words) of why a call in `direction` is not recorded automatically under `policy`."""
    if not policy.enabled:
        return "recording_disabled", f"{config_words(policy)} has recording disabled"
    return f"{direction}_off", f"{direction} calls off: {config_words(policy)} does not record {direction} calls " \
                               "automatically"


def why_no_manual(policy: EffectivePolicy) -> str:
    if not policy.enabled:
        return f"{config_words(policy)} has recording disabled"
    return f"{config_words(policy)} has manual recording control off"


# ---------------------------------------------------------------------------------------------- DTMF
def feed_digit(buffer: str, last_us: int, digit: str, now_us: int, timeout_ms: int,
               codes: CodePair) -> tuple[str, str | None]:
    """Add one DTMF digit; return (new buffer, 'start' | 'stop' | 'pause' | 'resume' | None).

    Digits further apart than the inter-digit timeout start a new code; a matched code empties the buffer.
    Empty codes (pause/resume off) never match.
    """
    if last_us and now_us and now_us - last_us > timeout_ms * 1000:
        buffer = ""
    actions = (("start", codes.start), ("stop", codes.stop), ("pause", codes.pause), ("resume", codes.resume))
    longest = max(len(code) for _, code in actions)
    buffer = (buffer + digit)[-longest:]
    for action, code in sorted(actions, key=lambda x: -len(x[1])):
        if code and buffer.endswith(code):
            return "", action
    return buffer, None


# ------------------------------------------------------------------------------------------ deciders
def _start(tracker: Tracker, leg: LegState, account: str, direction: str, trigger: str,
           root: str, ext: str, key_candidates: list[str], reason: str = "") -> StartRecording:
    existing = leg.recordings.get(account)
    if existing is not None:  # stop then start: continue the same file
        existing.active, existing.stopped_by_user = True, False
        return StartRecording(leg.uuid, existing.call_key, account, existing.direction, existing.trigger,
                              existing.path, resume=True, reason=reason)
    key = tracker.claim_key(key_candidates, account, leg.uuid)
    path = recording_path(root, key, account, leg.created_us, ext)
    leg.recordings[account] = OwnRecording(account, key, path, direction, trigger, active=True)
    return StartRecording(leg.uuid, key, account, direction, trigger, path, reason=reason)


def call_parties(leg: LegState) -> tuple[str, ...]:
    """The legs whose phones hear an announcement on `leg`'s call: the leg and its bridge partner."""
    return (leg.uuid, leg.partner) if leg.partner else (leg.uuid,)


def announce_once(decisions: list[Decision], parties: tuple[str, ...], wanted: bool) -> list[Decision]:
    """Give the event's last start the call's parties to announce to, once for all its starts (DESIGN §3: two
    announcements on one bridge are played one after the other to everybody)."""
    if not wanted:
        return decisions
    for index in range(len(decisions) - 1, -1, -1):
        if isinstance(decisions[index], StartRecording):
            decisions[index] = replace(decisions[index], announce_to=parties)
            break
    return decisions


def decide_bridge(tracker: Tracker, a: LegState, b: LegState, policy_for: PolicyLookup,
                  settings: RecordingSettings, root: str) -> list[Decision]:
    """A CHANNEL_BRIDGE joined legs a and b: auto-record each account's own leg, and redirected calls."""
    a.bridge_to(b.uuid)
    b.bridge_to(a.uuid)
    vm = settings.voicemail_numbers
    if is_voicemail_leg(a, vm) or is_voicemail_leg(b, vm):
        a.voicemail = b.voicemail = True
        code, reason = voicemail_reason(a, vm) or voicemail_reason(b, vm) or ("voicemail", "voicemail call")
        return [NotRecorded(leg.uuid, leg.account, leg.account_direction or INCOMING, code, reason)
                for leg in (a, b) if leg.account is not None and policy_for(leg.account) is not None]
    decisions: list[Decision] = []
    announce = False
    for leg in (a, b):
        if leg.account is None or leg.account_direction is None or leg.voicemail:
            continue
        if leg.account in leg.recordings:  # re-bridge, hold, transfer: one recording per leg and account
            continue
        policy = policy_for(leg.account)
        if policy is None:
            continue
        if not policy.auto_record(leg.account_direction):
            decisions.append(NotRecorded(leg.uuid, leg.account, leg.account_direction,
                                         *why_not_auto(policy, leg.account_direction)))
            continue
        announce = announce or policy.announcement
        decisions.append(_start(tracker, leg, leg.account, leg.account_direction, AUTO, root,
                                settings.record_format, [leg.call_uuid or leg.uuid],
                                auto_reason(policy, leg.account_direction)))
    redirector = find_redirector(tracker, a, b)
    if redirector and redirector not in (a.account, b.account) and redirector not in a.redirects_done:
        a.redirects_done.add(redirector)
        policy = policy_for(redirector)
        if policy is None:
            decisions.extend(Note(leg.uuid, leg.account, leg.account_direction or INCOMING,
                                  f"redirected by {redirector}, which is not an account: no recording for a "
                                  "redirecting party") for leg in (a, b)
                             if leg.account is not None and policy_for(leg.account) is not None)
        elif redirector in a.recordings:
            pass
        elif not policy.auto_record_redirected:
            code, reason = why_not_auto(policy, REDIRECTED)
            decisions.append(NotRecorded(a.uuid, redirector, REDIRECTED, code, f"{redirector} redirected the call; "
                                         f"{reason}"))
        else:
            announce = announce or policy.announcement
            decisions.append(_start(tracker, a, redirector, REDIRECTED, AUTO, root,
                                    settings.record_format, [b.uuid, a.uuid],
                                    f"{redirector} redirected the call; {auto_reason(policy, REDIRECTED)}"))
    decisions = announce_once(decisions, (a.uuid, b.uuid), announce)
    return decisions + announce_to_new_parties(a, b, policy_for, announced=announce)


def announce_to_new_parties(a: LegState, b: LegState, policy_for: PolicyLookup, announced: bool) -> list[Decision]:
    """The seed's announcement is for all parties: a recording that goes on across a transfer or forward is
    announced to the party the bridge brought in (mixed into the recorded leg's audio, which that party hears).
    Nothing more when this bridge announced itself to both legs already."""
    extra: list[Decision] = []
    for leg, other in ((a, b), (b, a)):
        for rec in leg.recordings.values():
            if not rec.active:
                continue
            policy = policy_for(rec.account)
            if policy is None or not policy.announcement:
                continue
            if not announced and rec.heard_by and other.uuid not in rec.heard_by:
                extra.append(Announce(leg.uuid, (leg.uuid,)))
            rec.heard_by = rec.heard_by | {leg.uuid, other.uuid}
    return extra


def find_redirector(tracker: Tracker, a: LegState, b: LegState) -> str | None:
    """The account that redirected this bridge here, if any (None for an unknown party).

    In order: what our dialplan declared (`callrec_redirected_by`); the user of a Diversion the dialplan set on
    the leg FreeSWITCH originated, whatever number was dialed (`diversion_from_dialplan`: never one the caller's
    own INVITE carried); the transferor named by `originator` on an attended transfer's final leg; a former bridge
    partner of either leg that is no longer in the call, when FreeSWITCH marked a transfer after the first bridge
    (blind transfer by REFER or `uuid_transfer`). The caller records it only when that party is an account.
    """
    for leg in (a, b):
        if leg.redirected_by:
            return leg.redirected_by
    for leg, other in ((a, b), (b, a)):
        if leg.diversion_user and leg.fs_direction == "outbound" and diversion_from_dialplan(tracker, leg, other):
            return leg.diversion_user
    for leg in (a, b):
        if leg.att_xfer_success and leg.originator and leg.originator not in (a.uuid, b.uuid):
            gone = tracker.get(leg.originator)
            if gone is not None and gone.account:
                return gone.account
    for leg in (a, b):
        for prev_uuid in reversed(leg.previous_partners):
            if prev_uuid in (a.uuid, b.uuid):
                continue
            prev = tracker.get(prev_uuid)
            # a former partner counts only when FreeSWITCH marked a transfer: a caller who simply goes on to
            # another bridge after the first party hung up was not redirected by anyone
            if (prev is not None and prev.account and not prev.voicemail
                    and (leg.transfer_marker or prev.transfer_marker)):
                return prev.account
    return None


def diversion_from_dialplan(tracker: Tracker, leg: LegState, other: LegState) -> bool:
    """Whether the Diversion on `leg`, a leg FreeSWITCH originated, is the dialplan's rather than the caller's.

    mod_sofia puts a Diversion header of the caller's INVITE on the caller's leg when it creates it, and copies
    every `sip_h_*` of the originating leg onto the leg it originates; the dialplan's own (`set`/`export`, or the
    dial string's `{sip_h_Diversion=...}`) comes later. So it is the dialplan's exactly when it differs from what
    the originating leg (`originator`, else the bridge partner) carried at its CHANNEL_CREATE, or that leg carried
    none.
    """
    origin = tracker.get(leg.originator) if leg.originator else None
    if not isinstance(origin, LegState):
        origin = other
    if origin.creation_seen:
        return leg.diversion != origin.created_diversion
    # Resync (the leg existed before we connected, its CHANNEL_CREATE was never seen): what the caller sent is
    # unknown. The Diversion is still the dialplan's when the originating leg does not carry the same one now (a
    # copy of the caller's would be there for the leg's life: only the dial string's `{...}` sets the B-leg alone),
    # or when it names the number the caller dialed (a forward of that account's number). Otherwise a caller's
    # header and the dialplan's `set` look alike: take it as the caller's, so that a call is never recorded for a
    # party that may not have redirected it (a missed redirected recording is the smaller harm).
    return leg.diversion != origin.diversion or leg.diversion_user == other.destination


def decide_dtmf(tracker: Tracker, leg: LegState, digit: str, now_us: int, policy: EffectivePolicy | None,
                settings: RecordingSettings, root: str) -> list[Decision]:
    """A digit pressed on the account's own leg: its start/stop (and pause/resume) codes control its own recording
    only."""
    if leg.account is None or policy is None or leg.voicemail:
        return []
    leg.dtmf_buffer, action = feed_digit(leg.dtmf_buffer, leg.dtmf_last_us, digit, now_us,
                                         settings.dtmf_timeout_ms, policy.codes)
    leg.dtmf_last_us = now_us
    if action is None:
        return []
    account = leg.account
    direction = leg.account_direction or OUTGOING
    code = getattr(policy.codes, action)
    if not policy.manual_control:
        return [Note(leg.uuid, account, direction, f"{action} code {code} pressed: ignored, {why_no_manual(policy)}")]
    if action in ("pause", "resume"):
        return decide_pause(leg, action == "pause", now_us, policy)
    if action == "start":
        if leg.active_recording(account):
            return [Note(leg.uuid, account, direction, f"start code {code} pressed: already recording")]
        start = _start(tracker, leg, account, direction, MANUAL, root,
                       settings.record_format, [leg.call_uuid or leg.uuid], f"manual: start code {code} pressed")
        if policy.announcement:
            leg.recordings[account].heard_by = frozenset(call_parties(leg))
        return announce_once([start], call_parties(leg), policy.announcement)
    rec = leg.active_recording(account)
    if rec is None:
        return [Note(leg.uuid, account, direction, f"stop code {code} pressed: nothing was recording")]
    rec.active, rec.stopped_by_user = False, True
    stop: list[Decision] = [StopRecording(leg.uuid, account, rec.path,
                                          call_parties(leg) if policy.announcement else (),
                                          reason=f"stop code {code} pressed")]
    # stopped while paused: the stop ends the masked media bug (a later start records unmasked); the file holds
    # silence up to the stop, so the pause ends there
    return stop + close_pauses(rec, leg.uuid, now_us)


REMOTE_ACTIONS = ("start", "stop")


def decide_remote(tracker: Tracker, leg: LegState | None, account: str, action: str, request_id: int,
                  policy: EffectivePolicy | None, settings: RecordingSettings,
                  root: str) -> tuple[list[Decision], str | None]:
    """A start/stop asked over the REST API or the Calls now page (a CallRequest row): the same rules as the
    account's codes -- manual control allowed, and the account's own leg (or a leg it records as the redirecting
    party). Returns (decisions, None) when accepted, ([], why in words) when refused."""
    if leg is None or leg.hung_up:
        return [], "the call leg is not in progress"
    if action not in REMOTE_ACTIONS:
        return [], f"unknown action {action!r}"
    if account != leg.account and account not in leg.recordings:
        return [], f"account {account} is not on this call leg"
    if policy is None:
        return [], f"{account} is not an account"
    if leg.voicemail:
        return [], "a call to a voice mailbox is never recorded"
    if not policy.manual_control:
        return [], why_no_manual(policy)
    reason = f"manual: {action} asked over the API (request {request_id})"
    if action == "start":
        if leg.active_recording(account):
            return [], "already recording"
        rec = leg.recordings.get(account)
        direction = rec.direction if rec else (leg.account_direction or OUTGOING)
        start = replace(_start(tracker, leg, account, direction, MANUAL, root, settings.record_format,
                               [leg.call_uuid or leg.uuid], reason), request_id=request_id)
        if policy.announcement:
            leg.recordings[account].heard_by = frozenset(call_parties(leg))
        return announce_once([start], call_parties(leg), policy.announcement), None
    rec = leg.active_recording(account)
    if rec is None:
        return [], "nothing is recording"
    rec.active, rec.stopped_by_user = False, True
    return [StopRecording(leg.uuid, account, rec.path, call_parties(leg) if policy.announcement else (),
                          reason=reason, request_id=request_id)], None


def live_state(leg: LegState, account: str) -> str:
    """The account's recording on the leg, for the Calls now page: recording / stopped / off."""
    rec = leg.recordings.get(account)
    if rec is None:
        return "off"
    return "recording" if rec.active else "stopped"


def decide_pause(leg: LegState, pause: bool, now_us: int, policy: EffectivePolicy) -> list[Decision]:
    """The pause or resume code on the account's own leg: mask or unmask its running recording (the same file).

    Nothing when PCI pause is off for the account, nothing is recording (not started, or stopped), or it is
    already in that state (a second pause does not open a second interval).
    """
    rec = leg.active_recording(leg.account) if leg.account else None
    if rec is None or not policy.pause_control or rec.paused == pause:
        return []
    rec.paused = pause
    if pause:
        rec.pauses = rec.pauses + ((now_us, 0),)
        return [PauseRecording(leg.uuid, rec.call_key, rec.account, rec.path, rec.pauses)]
    rec.pauses = _closed(rec.pauses, now_us)
    return [ResumeRecording(leg.uuid, rec.call_key, rec.account, rec.path, rec.pauses)]


def _closed(pauses: tuple[tuple[int, int], ...], now_us: int) -> tuple[tuple[int, int], ...]:
    return tuple((start, end or max(now_us, start)) for start, end in pauses)


def close_pauses(rec: OwnRecording, leg_uuid: str, now_us: int) -> list[Decision]:
    """A paused recording stopped or its leg hung up: close the open interval (no unmask: that would let audio
    into the file before the stop)."""
    if not rec.paused:
        return []
    rec.paused = False
    rec.pauses = _closed(rec.pauses, now_us)
    return [SavePauses(leg_uuid, rec.call_key, rec.account, rec.pauses)]


def decide_foreign_recording(tracker: Tracker, leg: LegState, path: str, phone_key: bool,
                             policy: EffectivePolicy | None, root_owned: bool) -> list[Decision]:
    """A RECORD_START we did not ask for. The phone's Record key: adopt it or refuse it by policy.

    Only the phone's Record key is the account's own doing (mod_sofia sets `sofia_record_file` to the very
    path it records). Any other recording we did not start — another Event Socket client's `uuid_record`, the
    dialplan's `record_session` (the stock `*2` bind_meta_app), voicemail's message — belongs to someone else:
    it is left alone, never stopped (that would break their system, and `sip_disable_recording` would take the
    phone's key away) and never adopted (that would mail their file to the account).
    """
    if path in leg.foreign:
        return []
    if not safe_file_path(path):
        leg.foreign[path] = "unsafe"  # never put into a command; the shell logs it
        return []
    if not phone_key:
        leg.foreign[path] = "ignored"
        return []
    if leg.account is None:
        leg.foreign[path] = "ignored"
        return []
    if policy is None or not policy.manual_control:
        leg.foreign[path] = "refused"
        return [RefuseRecording(leg.uuid, leg.account, path,
                                f"account {leg.account} has no manual recording control")]
    if leg.account in leg.recordings:
        leg.foreign[path] = "ignored"  # already one file for this call and account: ours
        return []
    key = tracker.claim_key([leg.call_uuid or leg.uuid], leg.account, leg.uuid)
    leg.recordings[leg.account] = OwnRecording(leg.account, key, path, leg.account_direction or INCOMING,
                                               PHONE, active=True, confirmed=True, file_open=True)
    leg.foreign[path] = "adopted"
    if policy.announcement:
        leg.recordings[leg.account].heard_by = frozenset(call_parties(leg))
    return [AdoptRecording(leg.uuid, key, leg.account, leg.account_direction or INCOMING, path,
                           call_parties(leg) if policy.announcement else ())]


def decide_conference(tracker: Tracker, leg: LegState, policy: EffectivePolicy | None,
                      settings: RecordingSettings, root: str) -> list[Decision]:
    """The leg joined a conference on the switch (`conference::maintenance` add-member).

    An account calling a conference is making an outgoing call to other people (the seed excludes only calls
    to a voice mailbox), and a conference that dials an account out is an incoming call of that account: a
    conference is a conversation, so it is auto-recorded like a bridge, on the account's own leg. Answered
    calls that never reach a bridge or a conference (an IVR, voicemail, a parked call) are not.
    """
    if leg.account is None or leg.account_direction is None or leg.voicemail or leg.is_loopback:
        return []
    if is_voicemail_leg(leg, settings.voicemail_numbers):
        leg.voicemail = True
        return []
    if leg.account in leg.recordings or policy is None:
        return []
    if not policy.auto_record(leg.account_direction):
        return [NotRecorded(leg.uuid, leg.account, leg.account_direction,
                            *why_not_auto(policy, leg.account_direction))]
    # in a conference the leg's own audio reaches every other member; the member itself does not hear it
    return announce_once([_start(tracker, leg, leg.account, leg.account_direction, AUTO, root,
                                 settings.record_format, [leg.call_uuid or leg.uuid],
                                 auto_reason(policy, leg.account_direction) + " (a conference)")],
                         (leg.uuid,), policy.announcement)


def decide_hangup(leg: LegState, policy_for: PolicyLookup | None = None, voicemail_numbers: tuple[str, ...] = (),
                  ended_us: int = 0) -> list[Decision]:
    """The leg is gone: log it for every account it concerned (with `policy_for`), then finalise every recording it
    made (ours and adopted ones).

    Starts still in flight are included: the sender runs a leg's decisions in order and finalises only what
    FreeSWITCH accepted. The log entries come first: a finalised leg is kept compact, without its explanations.
    """
    for rec in leg.recordings.values():
        rec.active = False
    logs: list[Decision] = [] if policy_for is None else call_log_decisions(leg, policy_for, voicemail_numbers,
                                                                             ended_us)
    return logs + [Finalise(leg.uuid, rec.call_key, rec.account, rec.path) for rec in leg.recordings.values()]


def call_log_decisions(leg: LegState, policy_for: PolicyLookup, voicemail_numbers: tuple[str, ...],
                       ended_us: int = 0) -> list[LogCall]:
    """One LogCall per account of the leg (its own, a redirecting one) that is an account; what hangup alone knows
    is the fallback reason: a voicemail call, or a leg that never reached another party."""
    accounts = [leg.account] if leg.account is not None else []
    for account in (*(leg.explained or ()), *leg.recordings):
        if account not in accounts:
            accounts.append(account)
    if not accounts:
        return []
    if leg.voicemail:
        code, reason = voicemail_reason(leg, voicemail_numbers) or (
            "voicemail", "a call to a voice mailbox is never recorded")
    elif leg.partner is None and not leg.previous_partners:
        code, reason = "never_connected", "never connected: the call was not answered by another party"
    else:
        code, reason = "no_rule", "no recording rule applied to this leg"
    logs = []
    for account in accounts:
        if policy_for(account) is None:
            continue  # a SIP user that is not an account (or no longer is)
        rec = leg.recordings.get(account)
        direction = rec.direction if rec is not None else (
            leg.account_direction if account == leg.account else REDIRECTED) or INCOMING
        entry = (leg.explained or {}).get(account)
        explained = entry is not None and entry.reason
        logs.append(LogCall(
            leg.uuid, account, direction, rec.call_key if rec is not None else (leg.call_uuid or leg.uuid),
            leg.caller_number, leg.callee_number or leg.destination, leg.created_us, ended_us,
            entry.decision if explained else NOT_RECORDED, entry.code if explained else code,
            entry.reason if explained else reason, tuple(entry.notes) if entry is not None else ()))
    return logs


# ------------------------------------------------------------------------------------------ rendering
def recording_vars(decision: StartRecording, ctx: RenderContext) -> str:
    values = {
        "RECORD_STEREO": "true" if ctx.stereo else "false",
        "RECORD_APPEND": "true",
        "record_sample_rate": str(ctx.sample_rate),
        "callrec_account": decision.account,
        "callrec_call": decision.call_key,
        "callrec_trigger": decision.trigger,
    }
    # FreeSWITCH URL-decodes the {..} block before splitting it: encode every value.
    return "{" + ",".join(f"{k}={_quote(v)}" for k, v in values.items()) + "}"


def announcement_commands(sound: str, legs: tuple[str, ...], ctx: RenderContext) -> list[Command]:
    """Mix an announcement into what each leg's phone sends (`uuid_displace ... rm`), so it reaches every party once.

    Not `uuid_broadcast`: on a real switch that takes the legs out of the bridge (the parties' DTMF waits in a queue
    until it ends, `*` cuts it) and two of them on one bridge play one after the other to everybody. A displace on
    the *read* side mixes the file into the audio the leg sends: its bridge partner hears it, and a recording
    already running on either leg holds it (a write-side displace comes after the recorder's media bug and would be
    missing from the file). Every party's leg gets one, so every party hears it exactly once, at the same moment.
    """
    path = f"{ctx.sounds_dir.rstrip('/')}/{sound}"
    return [Command(f"uuid_displace {leg} start {path} 0 rm", required=False) for leg in legs]


def render_command(decision: Decision, ctx: RenderContext) -> list[Command]:
    """The API commands (without the `api ` prefix) that carry out a decision, in order."""
    if isinstance(decision, StartRecording):
        return [Command(f"uuid_record {decision.leg_uuid} start {decision.path} {ctx.limit_seconds} "
                        f"{recording_vars(decision, ctx)}")] + \
            announcement_commands(ANNOUNCEMENT, decision.announce_to, ctx)
    if isinstance(decision, StopRecording):
        return [Command(f"uuid_record {decision.leg_uuid} stop {decision.path}")] + \
            announcement_commands(STOP_ANNOUNCEMENT, decision.announce_to, ctx)
    if isinstance(decision, AdoptRecording):
        return announcement_commands(ANNOUNCEMENT, decision.announce_to, ctx)
    if isinstance(decision, Announce):
        return announcement_commands(ANNOUNCEMENT, decision.legs, ctx)
    if isinstance(decision, PauseRecording):
        return [Command(f"uuid_record {decision.leg_uuid} mask {decision.path}")]
    if isinstance(decision, ResumeRecording):
        return [Command(f"uuid_record {decision.leg_uuid} unmask {decision.path}")]
    if isinstance(decision, RefuseRecording):
        return [Command(f"uuid_setvar {decision.leg_uuid} sip_disable_recording true", required=False),
                Command(f"uuid_record {decision.leg_uuid} stop {decision.path}", required=False)]
    return []


def reply_ok(reply: str) -> bool:
    return reply.startswith("+OK")
