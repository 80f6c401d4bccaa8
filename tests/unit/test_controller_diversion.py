"""Issue 12, "Forwards by the dialplan, whatever number was dialed": a Diversion on the leg FreeSWITCH originated
is the dialplan's forward when it is not what the caller's leg carried at its CHANNEL_CREATE (pure: headers ->
facts -> tracker -> decisions).

The event order is the one seen on FreeSWITCH 1.11 (tests/live/test_live_redirects.py): a Diversion header of the
caller's INVITE is on the caller's leg at CHANNEL_CREATE; the dialplan's `set sip_h_Diversion=...` changes the
caller's leg later (CHANNEL_EXECUTE); the B-leg's CHANNEL_CREATE carries mod_sofia's copy of the caller's leg's
`sip_h_*` and `originator` = the caller's leg; no Caller-RDNIS anywhere.
"""
from __future__ import annotations

import pytest

from controller.esl import EventHeaders
from controller.facts import creation_facts, leg_facts
from controller.tracker import Tracker

from .test_controller_real_switch_quirks import bridge, inbound, outbound, policy, redirected

FORWARDER = "<sip:1001@127.0.0.1>;reason=unconditional"   # the dialplan names the forwarding account 1001
CALLERS = "<sip:1001@carrier.example>;reason=no-answer"    # the caller's own INVITE names 1001 too


def call(tracker, dialed, at_creation, caller_leg_now, b_leg, b_user="1002", **b_vars):
    """1000 dials `dialed`; its leg carries `at_creation` at CHANNEL_CREATE and `caller_leg_now` later (after the
    dialplan ran); the dialplan bridges to `b_user`, whose leg carries `b_leg` from its own CHANNEL_CREATE on."""
    tracker.created("A", at_creation)
    a = inbound("A", "1000", dialed, **({"sip_h_Diversion": caller_leg_now} if caller_leg_now else {}))
    tracker.created("B", b_leg)
    b = outbound("B", b_user, "A", **({"sip_h_Diversion": b_leg} if b_leg else {}), **b_vars)
    tracker.observe(leg_facts(a))
    tracker.observe(leg_facts(b))


POLICIES = {"1000": policy("1000"), "1001": policy("1001", auto_record_redirected=True),
            "1002": policy("1002"), "1003": policy("1003", auto_record_redirected=True)}


@pytest.mark.parametrize("dialed, b_user", [
    ("1002", "1002"),   # a plain extension; the header names another account
    ("1001", "1002"),   # the header names the very account the caller dialed, which the dialplan routes to 1002
    ("5550100", "1002"),  # a DID
])
@pytest.mark.parametrize("copied_to_b_leg", [True, False])
def test_a_callers_own_diversion_never_makes_a_call_redirected(dialed, b_user, copied_to_b_leg):
    tracker = Tracker()
    call(tracker, dialed, CALLERS, CALLERS, CALLERS if copied_to_b_leg else None, b_user)
    assert redirected(bridge(tracker, "A", "B", POLICIES)) == []


@pytest.mark.parametrize("dialed", ["5550100", "600", "1001"], ids=["did", "hunt", "own-number"])
@pytest.mark.parametrize("how, at_creation, caller_leg_now", [
    ("set on the caller's leg", None, FORWARDER),
    ("dial string {sip_h_Diversion=...}", None, None),
    ("set, the caller's INVITE had another", CALLERS.replace("1001", "1003"), FORWARDER),
], ids=["set", "dial-string", "set-over-callers"])
@pytest.mark.parametrize("records_redirected", [True, False])
def test_a_dialplan_forward_with_sip_h_diversion_is_recorded_for_the_forwarding_account_by_its_policy(
        dialed, how, at_creation, caller_leg_now, records_redirected):
    tracker = Tracker()
    call(tracker, dialed, at_creation, caller_leg_now, FORWARDER)
    policies = {**POLICIES, "1001": policy("1001", auto_record_redirected=records_redirected)}
    expected = [("A", "1001")] if records_redirected else []
    assert redirected(bridge(tracker, "A", "B", policies)) == expected, how


def test_the_redirecting_party_of_a_dialplan_forward_must_be_an_account():
    tracker = Tracker()
    call(tracker, "5550100", None, None, "<sip:5559999@isp.example>;reason=unconditional")
    decisions = bridge(tracker, "A", "B", POLICIES)
    assert redirected(decisions) == [] and tracker.get("A").redirects_done == {"5559999"}


def test_callrec_redirected_by_wins_over_a_dialplan_diversion():
    tracker = Tracker()
    call(tracker, "5550100", None, None, FORWARDER, callrec_redirected_by="1003")
    assert redirected(bridge(tracker, "A", "B", POLICIES)) == [("A", "1003")]


def test_the_callers_leg_is_the_one_named_by_originator_not_just_the_bridge_partner():
    """The consulted leg of an attended transfer is originated by the transferor's leg X, not by its later
    partner: the copy it carries is compared with X's Diversion at creation."""
    tracker = Tracker()
    tracker.created("X", CALLERS)
    tracker.observe(leg_facts(inbound("X", "1003", "1002", sip_h_Diversion=CALLERS)))
    call(tracker, "1002", None, None, CALLERS, originator="X")
    assert redirected(bridge(tracker, "A", "B", POLICIES)) == []


# ------------------------------------------------------------------------------------------- after a resync
@pytest.mark.parametrize("dialed, caller_leg_now, b_leg, expected", [
    # both legs carry it: a caller's copy and the dialplan's `set` look alike; taken as the caller's
    ("5550100", CALLERS, CALLERS, []),
    ("5550100", FORWARDER, FORWARDER, []),
    # only the B-leg carries it: the dial string's {sip_h_Diversion=...}, never a copy of the caller's
    ("5550100", None, FORWARDER, [("A", "1001")]),
    ("5550100", CALLERS.replace("1001", "1003"), FORWARDER, [("A", "1001")]),
    # it names the number the caller dialed: a forward of that account's number (the rule before issue 12)
    ("1001", FORWARDER, FORWARDER, [("A", "1001")]),
], ids=["callers-copy", "dialplan-set", "dial-string", "dial-string-over-callers", "names-dialed-number"])
def test_after_a_resync_without_channel_create_a_diversion_both_legs_carry_counts_only_for_the_dialed_number(
        dialed, caller_leg_now, b_leg, expected):
    tracker = Tracker()
    # what resync learns: `uuid_dump` of live legs, no CHANNEL_CREATE
    tracker.observe(leg_facts(inbound("A", "1000", dialed, **({"sip_h_Diversion": caller_leg_now}
                                                             if caller_leg_now else {}))))
    tracker.observe(leg_facts(outbound("B", "1002", "A", sip_h_Diversion=b_leg)))
    assert not tracker.get("A").creation_seen
    assert redirected(bridge(tracker, "A", "B", POLICIES)) == expected


# ---------------------------------------------------------------------------------------------------- facts
@pytest.mark.parametrize("line, expected", [
    ("variable_sip_h_Diversion: %3Csip%3A1001%40127.0.0.1%3E%3Breason%3Dunconditional\n",
     "<sip:1001@127.0.0.1>;reason=unconditional"),
    ("variable_sip_h_Diversion: _undef_\n", None),
    ("", None),
])
def test_channel_create_gives_the_diversion_the_leg_carried_at_creation(line, expected):
    raw = ("Event-Name: CHANNEL_CREATE\nUnique-ID: A\nCall-Direction: inbound\nvariable_direction: inbound\n"
           + line + "variable_sip_from_user: 1000\n\n").encode()
    assert creation_facts(EventHeaders(raw)) == ("A", expected)


def test_channel_create_is_remembered_by_the_tracker_until_the_leg_hangs_up():
    tracker = Tracker()
    tracker.created("A", CALLERS)
    tracker.observe(leg_facts(inbound("A", "1000", "1002", sip_h_Diversion=FORWARDER)))
    leg = tracker.get("A")
    assert (leg.creation_seen, leg.created_diversion, leg.diversion) == (True, CALLERS, FORWARDER)
    tracker.hangup("A", 0.0)
    assert "A" not in tracker.legs
