"""Whose leg is it, and which way does the call go from that account's side (DESIGN §3), as tables."""
from __future__ import annotations

import pytest

from controller.facts import has_transfer_marker, identify_account, record_facts, redirecting_party

INBOUND = {"Call-Direction": "inbound", "Channel-Name": "sofia/internal/1000@127.0.0.1"}
OUTBOUND = {"Call-Direction": "outbound", "Channel-Name": "sofia/internal/1001@127.0.0.1:5070"}


@pytest.mark.parametrize(("headers", "expected"), [
    ({**INBOUND, "variable_user_name": "1000"}, ("1000", "outgoing", False)),
    ({**OUTBOUND, "variable_dialed_user": "1001"}, ("1001", "incoming", False)),
    # the A-leg also carries dialed_user once its bridge ran: direction decides
    ({**INBOUND, "variable_user_name": "1000", "variable_dialed_user": "1001"}, ("1000", "outgoing", False)),
    ({**OUTBOUND, "variable_user_name": "1000", "variable_dialed_user": "1001"}, ("1001", "incoming", False)),
    # the dialplan's callrec_account wins
    ({**INBOUND, "variable_user_name": "1000", "variable_callrec_account": "2000"}, ("2000", "outgoing", True)),
    ({**OUTBOUND, "variable_callrec_account": "2001"}, ("2001", "incoming", True)),
    # an external caller: no directory user, whatever its Caller-ID says
    ({**INBOUND, "Caller-Caller-ID-Number": "1000", "Caller-Username": "1000"}, (None, None, False)),
    ({**OUTBOUND, "Channel-Name": "sofia/external/15551234567"}, (None, None, False)),
    # the voicemail loopback is nobody's leg
    ({"Call-Direction": "outbound", "Channel-Name": "loopback/voicemail-a", "variable_dialed_user": "1001"},
     (None, None, False)),
    ({"Channel-Name": "sofia/internal/1000@x", "variable_user_name": "1000"}, (None, None, False)),
])
def test_account_and_direction_are_identified_from_the_legs_own_variables(headers, expected):
    assert identify_account(headers) == expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({"variable_callrec_redirected_by": "1001"}, "1001"),
    ({**OUTBOUND, "variable_sip_h_Diversion": "<sip:1001@example.org>;reason=unconditional"}, "1001"),
    # a Diversion header on a leg FreeSWITCH received came from the caller's phone: ignored
    ({**INBOUND, "variable_sip_h_Diversion": "<sip:1001@example.org>;reason=unconditional"}, None),
    ({**OUTBOUND, "variable_sip_h_Diversion": "garbage"}, None),
    ({**OUTBOUND}, None),
])
def test_only_the_dialplan_declares_a_redirecting_party(headers, expected):
    assert redirecting_party(headers) == expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({"variable_sip_refer_to": "<sip:1002@x>"}, True),
    ({"variable_transfer_source": "1:u:bl_xfer:1002/default/XML"}, True),
    ({"variable_endpoint_disposition": "BLIND_TRANSFER"}, True),
    ({"Hangup-Cause": "ATTENDED_TRANSFER"}, True),
    ({"variable_endpoint_disposition": "ANSWER", "Hangup-Cause": "NORMAL_CLEARING"}, False),
])
def test_transfer_markers(headers, expected):
    assert has_transfer_marker(headers) is expected


@pytest.mark.parametrize(("headers", "ours", "phone_key"), [
    ({"Record-File-Path": "/r/a.wav", "Recording-Variable-callrec_account": "1000"}, True, False),
    ({"Record-File-Path": "/r/1000.x.wav", "variable_sofia_record_file": "/r/1000.x.wav"}, False, True),
    ({"Record-File-Path": "/vm/msg.wav", "variable_current_application": "voicemail"}, False, False),
])
def test_record_events_tell_our_recordings_from_the_phones(headers, ours, phone_key):
    facts = record_facts(headers)
    assert (facts.ours, facts.phone_key) == (ours, phone_key)
