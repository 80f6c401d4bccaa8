"""Translate FreeSWITCH event headers into plain facts about a leg (pure: no I/O, no gevent, no Flask).

Whose leg is it (DESIGN §3):
* `variable_callrec_account`, when the dialplan set it, names the account outright;
* else a leg FreeSWITCH *received* (`Call-Direction: inbound`) from a registered user carries
  `variable_user_name` (its directory user, set by digest authentication): that account is calling out;
* else a leg FreeSWITCH *originated* to a user (`Call-Direction: outbound`, `user/1002@domain`) carries
  `variable_dialed_user`: that account is being called.
The A-leg also carries `variable_dialed_user` once its bridge has ran, so the direction decides which variable
counts. Caller-ID names and numbers are never used to identify an account: the caller controls them.
Loopback channels (the stock voicemail divert) are never an account's leg.
"""
from __future__ import annotations

from dataclasses import dataclass

OUTGOING, INCOMING, REDIRECTED = "outgoing", "incoming", "redirected"


@dataclass(frozen=True, slots=True)
class LegFacts:
    """What one event tells about its leg."""

    uuid: str
    call_uuid: str
    fs_direction: str            # FreeSWITCH's Call-Direction: inbound | outbound
    channel_name: str
    account: str | None          # account number whose leg this is, if any
    account_direction: str | None  # outgoing | incoming, from the account's point of view
    explicit_account: bool       # identified by callrec_account (the dialplan said so)
    destination: str             # Caller-Destination-Number
    caller_number: str
    callee_number: str
    created_us: int
    current_application: str
    current_application_data: str
    is_loopback: bool
    redirected_by: str | None    # callrec_redirected_by (set by our dialplan)
    originator: str | None       # variable_originator (set on att_xfer's final leg)
    att_xfer_success: bool
    transfer_marker: bool        # this leg was transferred or did transfer (REFER, uuid_transfer, att_xfer)
    has_variables: bool          # DTMF/RECV_INFO carry no variable_*: their facts are partial
    transfer_marks: frozenset[str] = frozenset()  # the transfer-related values behind transfer_marker
    diversion_user: str | None = None  # user part of a Diversion on a leg FreeSWITCH originated
    diversion: str | None = None       # the leg's sip_h_Diversion as it is now (any direction), for comparisons


UNDEF = "_undef_"  # how FreeSWITCH serialises an empty value (switch_event_serialize)


def value(headers, name: str) -> str:
    """A header value with FreeSWITCH's serialisation quirks removed: `_undef_` is empty, and an `ARRAY::a|:b`
    variable (a variable pushed more than once) is its last element."""
    return _clean(headers.get(name))


def _user_part(uri: str) -> str | None:
    """`<sip:1001@example.org>;reason=unconditional` -> `1001`."""
    value = uri.strip()
    if "sip:" in value:
        value = value.split("sip:", 1)[1]
    elif "tel:" in value:
        value = value.split("tel:", 1)[1]
    else:
        return None
    user = value.split("@", 1)[0].split(";", 1)[0].split(">", 1)[0].strip()
    return user or None


def identify_account(headers: dict[str, str]) -> tuple[str | None, str | None, bool]:
    """Return (account number, direction from the account's side, identified explicitly) for a leg."""
    if value(headers, "Channel-Name").startswith("loopback/"):
        return None, None, False
    fs_direction = value(headers, "Call-Direction")
    direction = OUTGOING if fs_direction == "inbound" else INCOMING if fs_direction == "outbound" else None
    if direction is None:
        return None, None, False
    explicit = value(headers, "variable_callrec_account").strip()
    if explicit:
        return explicit, direction, True
    if fs_direction == "inbound":
        number = value(headers, "variable_user_name").strip()
    else:
        number = value(headers, "variable_dialed_user").strip()
    return (number or None), (direction if number else None), False


def declared_redirector(headers: dict[str, str]) -> str | None:
    """The redirecting party our dialplan declared for this leg (`callrec_redirected_by`), if any."""
    return value(headers, "variable_callrec_redirected_by").strip() or None


def redirecting_party(headers: dict[str, str]) -> str | None:
    """What this leg alone says about a redirecting party: `callrec_redirected_by`, else the user part of a
    Diversion on a leg FreeSWITCH originated (never one on a leg it received: the caller's phone sent that)."""
    return declared_redirector(headers) or diversion_user(headers)


def diversion_user(headers: dict[str, str]) -> str | None:
    """The diverting user of a Diversion on a leg FreeSWITCH *originated*, if any.

    On a leg FreeSWITCH received, the header came from the caller's phone or carrier. Beware: mod_sofia copies
    every `sip_h_*` variable of the A-leg onto the B-leg it originates, so a caller's own Diversion shows up on
    the B-leg too; `decisions.find_redirector` tells the two apart by what the caller's leg carried when it was
    created (`creation_facts`). Several Diversion headers arrive as `ARRAY::`; the first (topmost) is the latest.
    """
    if value(headers, "Call-Direction") != "outbound":
        return None
    return _diversion_user_of(diversion(headers))


def diversion(headers: dict[str, str]) -> str | None:
    """The leg's `sip_h_Diversion` as FreeSWITCH serialised it (`ARRAY::` kept: it is compared whole), if any."""
    raw = headers.get("variable_sip_h_Diversion")
    return raw if raw and raw != UNDEF else None


def _diversion_user_of(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw.startswith("ARRAY::"):
        raw = raw[len("ARRAY::"):].split("|:", 1)[0]
    if not raw or raw == UNDEF:
        return None
    return _user_part(raw)


def creation_facts(headers: dict[str, str]) -> tuple[str, str | None]:
    """(leg uuid, its `sip_h_Diversion` at creation) from a CHANNEL_CREATE.

    Seen on FreeSWITCH 1.11 (tests/live/test_live_redirects.py): a Diversion header of the caller's INVITE is
    already on the caller's leg at CHANNEL_CREATE; one the dialplan sets (`set`/`export`, or `{...}` in the dial
    string) arrives later, and the B-leg's own CHANNEL_CREATE carries the copy mod_sofia made of the A-leg's
    `sip_h_*` at that moment. Two header reads: this runs for every leg.
    """
    return _clean(headers.get("Unique-ID")), diversion(headers)


TRANSFER_DISPOSITIONS = {"BLIND_TRANSFER", "ATTENDED_TRANSFER"}


TRANSFER_VARIABLES = ("variable_sip_refer_to", "variable_transfer_source", "variable_transfer_to",
                      "variable_att_xfer_result")


def transfer_marks(headers: dict[str, str]) -> frozenset[str]:
    """The transfer-related values FreeSWITCH put on this leg (transferee or transferor).

    Values, not just presence: the stock `public` context `transfer`s every outside call to `default`, so such a
    leg carries `transfer_source` (a `bl_xfer` entry) for its whole life; only a mark that appears or changes
    after the leg's first bridge is a transfer of a conversation (see `LegState.update`).
    """
    marks = {f"{name}={v}" for name in TRANSFER_VARIABLES if (v := value(headers, name))}
    if value(headers, "variable_endpoint_disposition") in TRANSFER_DISPOSITIONS:
        marks.add("endpoint_disposition=" + value(headers, "variable_endpoint_disposition"))
    if value(headers, "Hangup-Cause") in TRANSFER_DISPOSITIONS:
        marks.add("Hangup-Cause=" + value(headers, "Hangup-Cause"))
    return frozenset(marks)


def has_transfer_marker(headers: dict[str, str]) -> bool:
    """Whether FreeSWITCH marked this leg as transferred (transferee) or transferring (transferor)."""
    return bool(transfer_marks(headers))


def _clean(raw: str | None) -> str:
    """`value()` of an already looked-up header value."""
    if not raw or raw == UNDEF:
        return ""
    if raw.startswith("ARRAY::"):
        items = [item for item in raw[len("ARRAY::"):].split("|:") if item and item != UNDEF]
        return items[-1] if items else ""
    return raw


def leg_facts(headers: dict[str, str]) -> LegFacts:
    """Facts about the leg an event (or a `uuid_dump`) describes.

    The same facts as `identify_account`, `transfer_marks`, `declared_redirector` and `diversion_user` give, with
    each header read once (this runs for nearly every event: see bench/RESULTS.md)."""
    get = headers.get
    channel_name = _clean(get("Channel-Name"))
    fs_direction = _clean(get("Call-Direction"))
    is_loopback = channel_name.startswith("loopback/")
    # identify_account
    account = direction = None
    explicit = False
    if not is_loopback:
        direction = OUTGOING if fs_direction == "inbound" else INCOMING if fs_direction == "outbound" else None
        if direction is not None:
            named = _clean(get("variable_callrec_account")).strip()
            if named:
                account, explicit = named, True
            else:
                number = _clean(get("variable_user_name" if fs_direction == "inbound"
                                    else "variable_dialed_user")).strip()
                account = number or None
                if not number:
                    direction = None
    uuid = _clean(get("Unique-ID"))
    try:
        created = int(_clean(get("Caller-Channel-Created-Time")) or 0)
    except ValueError:
        created = 0
    # transfer_marks
    att_xfer_result = _clean(get("variable_att_xfer_result"))
    marks = set()
    for name in TRANSFER_VARIABLES:
        v = att_xfer_result if name == "variable_att_xfer_result" else _clean(get(name))
        if v:
            marks.add(f"{name}={v}")
    disposition = _clean(get("variable_endpoint_disposition"))
    if disposition in TRANSFER_DISPOSITIONS:
        marks.add("endpoint_disposition=" + disposition)
    cause = _clean(get("Hangup-Cause"))
    if cause in TRANSFER_DISPOSITIONS:
        marks.add("Hangup-Cause=" + cause)
    marks = frozenset(marks)
    div = diversion(headers)
    return LegFacts(
        uuid=uuid,
        call_uuid=_clean(get("Channel-Call-UUID")) or _clean(get("variable_call_uuid")) or uuid,
        fs_direction=fs_direction,
        channel_name=channel_name,
        account=account,
        account_direction=direction,
        explicit_account=explicit,
        destination=_clean(get("Caller-Destination-Number")),
        caller_number=_clean(get("Caller-Caller-ID-Number")),
        callee_number=_clean(get("Caller-Callee-ID-Number")),
        created_us=created,
        current_application=_clean(get("variable_current_application")) or _clean(get("Application")),
        current_application_data=_clean(get("variable_current_application_data"))
        or _clean(get("Application-Data")),
        is_loopback=is_loopback,
        redirected_by=_clean(get("variable_callrec_redirected_by")).strip() or None,
        originator=_clean(get("variable_originator")) or None,
        att_xfer_success=att_xfer_result == "success",
        transfer_marker=bool(marks),
        has_variables=_has_variables(headers),
        transfer_marks=marks,
        diversion_user=_diversion_user_of(div) if fs_direction == "outbound" else None,
        diversion=div,
    )


def _has_variables(headers) -> bool:
    probe = getattr(headers, "has_header_prefix", None)  # EventHeaders answers without a full parse
    if probe is not None:
        return probe("variable_")
    return any(k.startswith("variable_") for k in headers)


def event_time_us(headers: dict[str, str]) -> int:
    """Event-Date-Timestamp (microseconds), 0 if absent or bad."""
    try:
        return int(value(headers, "Event-Date-Timestamp") or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What a RECORD_START / RECORD_STOP says: the file and the tags we put on our own recordings."""

    uuid: str
    path: str
    ours: bool               # carries our Recording-Variable-callrec_account tag
    account: str | None      # the tagged account
    phone_key: bool          # started by mod_sofia's SIP INFO `Record: on` (variable_sofia_record_file)
    current_application: str
    seconds: float | None
    completion_cause: str


def record_facts(headers: dict[str, str]) -> RecordFacts:
    path = value(headers, "Record-File-Path")
    account = value(headers, "Recording-Variable-callrec_account") or None
    sofia_file = value(headers, "variable_sofia_record_file")
    seconds = None
    raw_ms = headers.get("variable_record_ms")
    if raw_ms:
        try:
            seconds = int(raw_ms) / 1000.0
        except ValueError:
            seconds = None
    return RecordFacts(
        uuid=value(headers, "Unique-ID"),
        path=path,
        ours=account is not None,
        account=account,
        phone_key=bool(sofia_file) and sofia_file == path,
        current_application=headers.get("variable_current_application", ""),
        seconds=seconds,
        completion_cause=headers.get("Record-Completion-Cause", ""),
    )
