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
    redirected_by: str | None    # callrec_redirected_by (dialplan) or a dialplan-set Diversion on an outbound leg
    originator: str | None       # variable_originator (set on att_xfer's final leg)
    att_xfer_success: bool
    transfer_marker: bool        # this leg was transferred or did transfer (REFER, uuid_transfer, att_xfer)
    has_variables: bool          # DTMF/RECV_INFO carry no variable_*: their facts are partial


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
    if headers.get("Channel-Name", "").startswith("loopback/"):
        return None, None, False
    fs_direction = headers.get("Call-Direction", "")
    direction = OUTGOING if fs_direction == "inbound" else INCOMING if fs_direction == "outbound" else None
    if direction is None:
        return None, None, False
    explicit = headers.get("variable_callrec_account", "").strip()
    if explicit:
        return explicit, direction, True
    if fs_direction == "inbound":
        number = headers.get("variable_user_name", "").strip()
    else:
        number = headers.get("variable_dialed_user", "").strip()
    return (number or None), (direction if number else None), False


def redirecting_party(headers: dict[str, str]) -> str | None:
    """The redirecting party the dialplan declared for this leg, if any.

    `callrec_redirected_by` is set by our dialplan. A Diversion header counts only on a leg FreeSWITCH
    originated (the dialplan set `sip_h_Diversion` for the forward); on a leg it received, the header came
    from the caller's phone or carrier and must not make anyone a redirecting party.
    """
    explicit = headers.get("variable_callrec_redirected_by", "").strip()
    if explicit:
        return explicit
    if headers.get("Call-Direction") == "outbound":
        diversion = headers.get("variable_sip_h_Diversion", "")
        if diversion:
            return _user_part(diversion)
    return None


TRANSFER_DISPOSITIONS = {"BLIND_TRANSFER", "ATTENDED_TRANSFER"}


def has_transfer_marker(headers: dict[str, str]) -> bool:
    """Whether FreeSWITCH marked this leg as transferred (transferee) or transferring (transferor)."""
    return bool(
        headers.get("variable_sip_refer_to")
        or headers.get("variable_transfer_source")
        or headers.get("variable_transfer_to")
        or headers.get("variable_att_xfer_result")
        or headers.get("variable_endpoint_disposition") in TRANSFER_DISPOSITIONS
        or headers.get("Hangup-Cause") in TRANSFER_DISPOSITIONS
    )


def leg_facts(headers: dict[str, str]) -> LegFacts:
    """Facts about the leg an event (or a `uuid_dump`) describes."""
    account, direction, explicit = identify_account(headers)
    uuid = headers.get("Unique-ID", "")
    try:
        created = int(headers.get("Caller-Channel-Created-Time") or 0)
    except ValueError:
        created = 0
    return LegFacts(
        uuid=uuid,
        call_uuid=headers.get("Channel-Call-UUID") or headers.get("variable_call_uuid") or uuid,
        fs_direction=headers.get("Call-Direction", ""),
        channel_name=headers.get("Channel-Name", ""),
        account=account,
        account_direction=direction,
        explicit_account=explicit,
        destination=headers.get("Caller-Destination-Number", ""),
        caller_number=headers.get("Caller-Caller-ID-Number", ""),
        callee_number=headers.get("Caller-Callee-ID-Number", ""),
        created_us=created,
        current_application=headers.get("variable_current_application", "")
        or headers.get("Application", ""),
        current_application_data=headers.get("variable_current_application_data", "")
        or headers.get("Application-Data", ""),
        is_loopback=headers.get("Channel-Name", "").startswith("loopback/"),
        redirected_by=redirecting_party(headers),
        originator=headers.get("variable_originator") or None,
        att_xfer_success=headers.get("variable_att_xfer_result") == "success",
        transfer_marker=has_transfer_marker(headers),
        has_variables=_has_variables(headers),
    )


def _has_variables(headers) -> bool:
    probe = getattr(headers, "has_header_prefix", None)  # EventHeaders answers without a full parse
    if probe is not None:
        return probe("variable_")
    return any(k.startswith("variable_") for k in headers)


def event_time_us(headers: dict[str, str]) -> int:
    """Event-Date-Timestamp (microseconds), 0 if absent or bad."""
    try:
        return int(headers.get("Event-Date-Timestamp") or 0)
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
    path = headers.get("Record-File-Path", "")
    account = headers.get("Recording-Variable-callrec_account") or None
    sofia_file = headers.get("variable_sofia_record_file", "")
    seconds = None
    raw_ms = headers.get("variable_record_ms")
    if raw_ms:
        try:
            seconds = int(raw_ms) / 1000.0
        except ValueError:
            seconds = None
    return RecordFacts(
        uuid=headers.get("Unique-ID", ""),
        path=path,
        ours=account is not None,
        account=account,
        phone_key=bool(sofia_file) and sofia_file == path,
        current_application=headers.get("variable_current_application", ""),
        seconds=seconds,
        completion_cause=headers.get("Record-Completion-Cause", ""),
    )
