"""Per-leg state built from events (pure data: no I/O, no gevent).

A leg keeps the identity it was first given: during an attended transfer FreeSWITCH rewrites the
transferor's `dialed_user` to the consulted party, so later events must not re-identify it. Legs that hung up
of accounts are remembered for a while (`keep_seconds`, 2 minutes): the final bridge of an attended transfer names the transferor's
by then gone leg in `originator`, and a transferred leg's former partner tells who redirected it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .facts import LegFacts


@dataclass(slots=True)  # no per-instance __dict__: ~1 KB less per remembered leg
class OwnRecording:
    """A recording we started (or adopted) on a leg for one account: one file per call and account."""

    account: str
    call_key: str        # Recording.call_uuid
    path: str
    direction: str
    trigger: str         # auto | manual | phone
    active: bool = False  # recording right now (a stop keeps the entry, a later start appends to the file)
    confirmed: bool = False  # FreeSWITCH accepted it at least once (the file should exist)
    stopped_by_user: bool = False
    file_open: bool = False  # FreeSWITCH reported RECORD_START of this file and no RECORD_STOP yet
    finalised: bool = False  # the hung-up leg's Finalise of it was carried out (handed to the database)
    heard_by: frozenset[str] = frozenset()  # legs whose phones heard this recording announced
    paused: bool = False  # PCI pause: masked (`uuid_record ... mask`), the file gets silence until the resume
    pauses: tuple[tuple[int, int], ...] = ()  # (paused at, resumed at or 0 while paused), event times in µs


RECORDED, NOT_RECORDED = "recorded", "not_recorded"


@dataclass(slots=True)
class Explained:
    """Why one account's leg was (not) recorded, in words, for the call log (issue 12)."""

    direction: str
    decision: str = NOT_RECORDED
    code: str = ""
    reason: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)  # no per-instance __dict__: ~1 KB less per remembered leg
class LegState:
    uuid: str
    call_uuid: str = ""
    fs_direction: str = ""
    channel_name: str = ""
    account: str | None = None
    account_direction: str | None = None
    explicit_account: bool = False
    destination: str = ""
    caller_number: str = ""
    callee_number: str = ""
    created_us: int = 0
    is_loopback: bool = False
    current_application: str = ""
    current_application_data: str = ""
    redirected_by: str | None = None
    originator: str | None = None
    att_xfer_success: bool = False
    transfer_marker: bool = False  # a transfer mark appeared after the leg's first bridge (see update)
    pre_bridge_marks: frozenset[str] = frozenset()  # transfer marks it already had before its first bridge
    diversion_user: str | None = None
    diversion: str | None = None  # sip_h_Diversion as it is now (the dialplan may have set or changed it)
    creation_seen: bool = False   # we saw its CHANNEL_CREATE (not so for a leg that existed before a resync)
    created_diversion: str | None = None  # sip_h_Diversion at CHANNEL_CREATE: what the caller's INVITE carried
    known: bool = False           # we have seen its variables (an event with variable_* or a uuid_dump)
    voicemail: bool = False
    partner: str | None = None
    previous_partners: list[str] = field(default_factory=list)
    recordings: dict[str, OwnRecording] = field(default_factory=dict)  # by account number
    foreign: dict[str, str] = field(default_factory=dict)  # path -> adopted | refused | ignored
    redirects_done: set[str] = field(default_factory=set)   # redirecting accounts already recorded here
    dtmf_buffer: str = ""
    dtmf_last_us: int = 0
    hung_up: bool = False
    gone_at: float = 0.0
    explained: dict[str, Explained] | None = None  # by account number; created on the first explanation

    def explain(self, account: str, direction: str, decision: str, code: str, reason: str) -> None:
        """Set why `account`'s leg is (not) recorded. A recording, once made, stays the decision; a recording that
        comes after a refusal (a start code after "incoming calls off") keeps the refusal as a note."""
        if self.explained is None:
            self.explained = {}
        entry = self.explained.get(account)
        if entry is None:
            self.explained[account] = Explained(direction, decision, code, reason)
            return
        if entry.decision == RECORDED and decision != RECORDED:
            entry.notes.append(reason)
            return
        if entry.reason and entry.reason != reason and decision == RECORDED and entry.decision != RECORDED:
            entry.notes.insert(0, f"not recorded at first: {entry.reason}")  # it came first
        if entry.decision == RECORDED and decision == RECORDED:
            return  # a resume after a stop: the first reason stands
        entry.decision, entry.code, entry.reason = decision, code, reason

    def note(self, account: str, direction: str, text: str) -> None:
        """Add what happened on the leg for `account` (a code pressed and what it did, a redirect seen)."""
        if self.explained is None:
            self.explained = {}
        entry = self.explained.get(account)
        if entry is None:
            entry = self.explained[account] = Explained(direction)
        entry.notes.append(text)

    def update(self, facts: LegFacts) -> None:
        """Merge what an event says; identity is kept once known (see the module docstring)."""
        # Channel-Call-UUID of a B-leg is the A-leg's uuid only while they are bridged; once it named another leg
        # it keeps it (the recording's call key must not change when the B-leg's later events name itself).
        if facts.call_uuid and (not self.call_uuid or self.call_uuid == self.uuid or facts.call_uuid != self.uuid):
            self.call_uuid = facts.call_uuid
        if facts.transfer_marks:
            if self.partner or self.previous_partners:
                # only a mark that is new since the first bridge is a transfer of a conversation: the public
                # context's `transfer` of every outside call leaves a bl_xfer transfer_source for the leg's life
                if facts.transfer_marks - self.pre_bridge_marks:
                    self.transfer_marker = True
            else:
                self.pre_bridge_marks = self.pre_bridge_marks | facts.transfer_marks
        if not facts.has_variables:
            self.fs_direction = self.fs_direction or facts.fs_direction
            self.channel_name = self.channel_name or facts.channel_name
            return
        self.known = True
        self.fs_direction = facts.fs_direction or self.fs_direction
        self.channel_name = facts.channel_name or self.channel_name
        if facts.account:
            may_replace = self.account is None or (
                facts.explicit_account and not self.explicit_account and not self.recordings)
            if may_replace:
                self.account, self.account_direction = facts.account, facts.account_direction
                self.explicit_account = facts.explicit_account
        if not self.destination:
            self.destination = facts.destination
        self.caller_number = self.caller_number or facts.caller_number
        self.callee_number = facts.callee_number or self.callee_number
        self.created_us = self.created_us or facts.created_us
        self.is_loopback = facts.is_loopback
        self.current_application = facts.current_application or self.current_application
        self.current_application_data = facts.current_application_data or self.current_application_data
        self.redirected_by = facts.redirected_by or self.redirected_by
        self.originator = facts.originator or self.originator
        self.att_xfer_success = facts.att_xfer_success or self.att_xfer_success
        self.diversion_user = facts.diversion_user or self.diversion_user
        self.diversion = facts.diversion or self.diversion

    def bridge_to(self, other: str) -> None:
        if self.partner and self.partner != other and self.partner not in self.previous_partners:
            self.previous_partners.append(self.partner)
        self.partner = other

    def unbridge(self) -> None:
        if self.partner and self.partner not in self.previous_partners:
            self.previous_partners.append(self.partner)
        self.partner = None

    def active_recording(self, account: str) -> OwnRecording | None:
        rec = self.recordings.get(account)
        return rec if rec is not None and rec.active else None


_NO_ENTRIES: dict = {}  # shared, never written: a GoneLeg has no recordings, no foreign files


class GoneLeg:
    """What is kept of a hung-up account leg once its recordings are finalised, for the remembered window: who
    it was (account, voicemail), its transfer mark and former partners (redirect detection), and the
    (call key, account) pairs it holds in `Tracker.keys` (one file per call and account). ~0.2 KB instead of a
    LegState. Reads like a hung-up LegState for what callers look at on a gone leg."""

    __slots__ = ("uuid", "account", "voicemail", "transfer_marker", "previous_partners", "keys", "gone_at")
    hung_up = True
    known = True
    recordings = _NO_ENTRIES
    foreign = _NO_ENTRIES
    partner = None
    caller_number = callee_number = destination = ""  # what a late row for it would carry (never, in practice)
    created_us = 0

    def __init__(self, leg: "LegState"):
        self.uuid, self.account, self.voicemail = leg.uuid, leg.account, leg.voicemail
        self.transfer_marker = leg.transfer_marker
        self.previous_partners = tuple(leg.previous_partners)
        self.keys = tuple((rec.call_key, rec.account) for rec in leg.recordings.values())
        self.gone_at = leg.gone_at

    def unbridge(self) -> None:
        pass  # its partners were recorded at its hangup


class Tracker:
    """Live legs by UUID, plus recently gone ones."""

    def __init__(self, keep_seconds: float = 120.0):
        self.legs: dict[str, LegState] = {}
        self.gone: dict[str, LegState | GoneLeg] = {}
        self.keep_seconds = keep_seconds
        self.keys: dict[tuple[str, str], str] = {}  # (call_key, account) -> leg uuid holding that recording

    def get(self, uuid: str) -> LegState | GoneLeg | None:
        return self.legs.get(uuid) or self.gone.get(uuid)

    def leg(self, uuid: str) -> LegState:
        leg = self.legs.get(uuid)
        if leg is None:
            leg = self.gone.get(uuid)
            if leg is None or leg.hung_up:
                leg = LegState(uuid=uuid)
            self.legs[uuid] = leg
        return leg

    def observe(self, facts: LegFacts) -> LegState:
        leg = self.leg(facts.uuid)
        leg.update(facts)
        return leg

    def created(self, uuid: str, diversion: str | None) -> None:
        """CHANNEL_CREATE of leg `uuid`, carrying `diversion` (see `facts.creation_facts`)."""
        leg = self.leg(uuid)
        leg.creation_seen, leg.created_diversion = True, diversion

    def hangup(self, uuid: str, now: float) -> LegState | None:
        leg = self.legs.pop(uuid, None)
        if leg is None:
            return None
        leg.hung_up, leg.gone_at = True, now
        if leg.account is not None or leg.recordings:
            # only an account's leg can be a redirecting party later; at 500 calls/s the rest would pile up. The
            # whole LegState stays until its recordings are finalised (`finalised`), then only a GoneLeg.
            self.gone.pop(uuid, None)  # re-insert at the end: `gone` stays in hangup order (see prune)
            self.gone[uuid] = leg if leg.recordings else GoneLeg(leg)
        return leg

    def finalised(self, uuid: str, account: str) -> None:
        """The Finalise of `account`'s recording on the hung-up leg `uuid` was carried out; once all of its
        recordings are, the leg is kept compact (GoneLeg) for the rest of the window."""
        leg = self.gone.get(uuid)
        if not isinstance(leg, LegState) or self.legs.get(uuid) is leg:
            return
        rec = leg.recordings.get(account)
        if rec is not None:
            rec.finalised = True
        if all(r.finalised for r in leg.recordings.values()):
            self.gone[uuid] = GoneLeg(leg)

    def prune(self, now: float) -> None:
        # `gone` is in hangup order (dicts keep insertion order; replacing a value keeps its place), so the
        # expired legs are at its front: stop at the first one still within the window instead of scanning
        # every remembered leg on every HEARTBEAT.
        expired = []
        for uuid, leg in self.gone.items():
            if now - leg.gone_at <= self.keep_seconds:
                break
            expired.append(uuid)
        for uuid in expired:
            leg = self.gone.pop(uuid)
            keys = leg.keys if isinstance(leg, GoneLeg) else [(r.call_key, r.account) for r in leg.recordings.values()]
            for key in keys:
                self.keys.pop(key, None)

    def claim_key(self, candidates: list[str], account: str, leg_uuid: str) -> str:
        """The first candidate call key this account has no recording under yet (one file per call+account)."""
        for key in candidates:
            holder = self.keys.get((key, account))
            if holder is None or holder == leg_uuid:
                self.keys[(key, account)] = leg_uuid
                return key
        key = leg_uuid
        self.keys[(key, account)] = leg_uuid
        return key
