"""Emulator fidelity, measured on the real switch (issue 11): the same scenarios through FreeSWITCH (real sipp
phones) and through tests.fakeswitch, seen by an Event Socket client subscribed like the controller
(controller/builder.py SUBSCRIBED_EVENTS), compared per leg role (A = the caller's leg, B = the leg originated to
the callee, LA/LB = a loopback's halves): the event names in order, the header names per event (the `variable_*`
ones only where the controller reads them), and the replies to the commands the controller sends.

A difference fails the test unless ALLOWED lists it (fnmatch patterns: `?` stands for a bracket) with the reason it does not matter.
"""
from __future__ import annotations

import fnmatch
import json
import os

import pytest

from tests.fakeswitch import FakeSwitch

from .conftest import FIGURES
from .fidelity import CONTROLLER_VARIABLES, SUBSCRIBED, Capture, Esl, compare, json_shape, normalise_reply
from .media import Keys
from .sip import AwaitHangup, Hangup, Pause
from .switch import DID_FORWARD_NUMBER, DID_FORWARD_TARGET, DID_FORWARDING_ACCOUNT, RING_SECONDS

NOBODY = "00000000-0000-4000-8000-000000000000"
# issue 12: a Diversion header of the caller's own INVITE, and the dialplan's forward of a DID (tests/live/switch.py)
CALLERS_DIVERSION = "<sip:1001@127.0.0.1>;reason=unconditional"
DIVERSION_SCENARIOS = {"callers-diversion": "1002", "did-forward": DID_FORWARD_TARGET}  # -> callee

# accepted difference (fnmatch pattern over the keys fidelity.compare makes) -> why it does not matter
ALLOWED: dict[str, str] = {
    "sequence no-answer-divert LB: *":
        "scenario, not switch: the live caller hangs up during the voicemail greeting (a left message would send "
        "MWI NOTIFYs to the shared phones); the emulator's no_answer_to_voicemail always leaves a message, so its "
        "loopback B half has RECORD_START/RECORD_STOP. The controller never records or identifies loopback legs "
        "(facts.identify_account: a loopback/ channel is no account's)",
    "sequence no-answer-divert LA: live ?'CHANNEL_CREATE', 'CHANNEL_HANGUP_COMPLETE'? "
    "emulator ?'CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE'?":
        "the real switch fires no CHANNEL_ANSWER for the loopback A half (it is answered inside mod_loopback's "
        "originate); not fixed yet. The controller ignores loopback legs (facts.identify_account)",
    "header CHANNEL_HANGUP_COMPLETE LB variable_record_ms: only emulator":
        "the same left message (record_ms of the voicemail recording) on the loopback B half, which the controller "
        "ignores",
    "header * L[AB] Caller-Callee-ID-*": "loopback halves' caller profile (callee id); the controller ignores loopback legs",
    "header * L[AB] Other-Leg-Callee-ID-*": "loopback halves' other-leg profile; the controller ignores loopback legs",
    "header * LB Caller-Username: only live": "the loopback B half's profile; the controller ignores loopback legs",
}

TOTALS = {"events": 0, "headers": 0, "replies": 0, "allowed": 0, "scenarios": 0}


# ----------------------------------------------------------------------------------------------- phones
# --------------------------------------------------------------------------------------------- commands
def probe(api: Esl, a: str, record_path: str, announcement: str) -> dict[str, str]:
    """The commands the controller sends, on the caller's live leg and on a uuid that does not exist."""
    replies: dict[str, str] = {}

    def send(label: str, command: str, shape=normalise_reply) -> None:
        replies[label] = shape(api.api(command))

    send("uuid_setvar", f"uuid_setvar {a} callrec_fidelity yes")
    send("uuid_getvar unset", f"uuid_getvar {a} sofia_record_file")
    send("uuid_getvar set", f"uuid_getvar {a} callrec_fidelity")
    send("uuid_record start", f"uuid_record {a} start {record_path}")
    send("uuid_displace start", f"uuid_displace {a} start {announcement} 0 rm")
    send("uuid_displace start same file", f"uuid_displace {a} start {announcement} 0 rm")
    send("uuid_displace stop", f"uuid_displace {a} stop {announcement}")
    send("show channels as json", "show channels as json", json_shape)
    send("uuid_dump json", f"uuid_dump {a} json", lambda text: json_shape(text, CONTROLLER_VARIABLES))
    send("uuid_record stop", f"uuid_record {a} stop {record_path}")
    send("uuid_record stop again", f"uuid_record {a} stop {record_path}")
    for command in (f"uuid_record {NOBODY} start {record_path}", f"uuid_record {NOBODY} stop {record_path}",
                    f"uuid_displace {NOBODY} start {announcement} 0 rm", f"uuid_setvar {NOBODY} x y",
                    f"uuid_getvar {NOBODY} x", f"uuid_dump {NOBODY} json"):
        send(command.split()[0] + " unknown uuid", command)
    return replies


def ended(count: int):
    """Every leg seen has had its CHANNEL_HANGUP_COMPLETE, and at least `count` legs were seen."""
    def check(events):
        legs = {e.get("Unique-ID") for e in events if e.get("Unique-ID")}
        done = {e.get("Unique-ID") for e in events if e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"}
        return len(legs) >= count and legs <= done
    return check


def bridged(events):
    return next((e for e in events if e.get("Event-Name") == "CHANNEL_BRIDGE"), None)


# -------------------------------------------------------------------------------------------- scenarios
def live_run(switch, phones, scenario: str, tmp_path) -> tuple[list[dict], dict]:
    tap = Esl(switch.esl_port, switch.esl_password)
    api = Esl(switch.esl_port, switch.esl_password)
    replies: dict = {}
    try:
        tap.subscribe(SUBSCRIBED)
        legs = 2
        if scenario in ("caller-hangs-up", "dtmf"):
            keys = (Keys(1.0, "*44"),) if scenario == "dtmf" else ()
            answer = phones("1001").answer([AwaitHangup()], talk=20)
            call = phones("1000").call("1001", [Pause(4), Hangup()], keys=keys, talk=20)
            if scenario == "caller-hangs-up":
                bridge = tap.wait_for("the bridge", bridged, 20)
                replies = probe(api, bridge["Bridge-A-Unique-ID"], str(switch.recordings / "fidelity.wav"),
                                str(switch.sounds / "callrec" / "call-recording-started.wav"))
            call.wait(40)
            answer.wait(30)
        elif scenario == "callee-hangs-up":
            answer = phones("1001").answer([Pause(3), Hangup()], talk=20)
            call = phones("1000").call("1001", [AwaitHangup()], talk=20)
            answer.wait(40)
            call.wait(30)
        elif scenario == "no-answer-divert":
            ringing = phones("1001").answer([], pick_up=False)
            # hang up once the loopback legs exist (after the dialplan's answer and `sleep 1000`), in the greeting
            call = phones("1000").call("1001", [Pause(3), Hangup()], talk=RING_SECONDS + 10)
            ringing.wait(RING_SECONDS + 20)
            call.wait(RING_SECONDS + 20)
            legs = 4
        elif scenario == "voicemail-retrieval":
            phones("1000").call("*98", [Pause(2.5), Hangup()], talk=10).wait(30)
            legs = 1
        elif scenario in DIVERSION_SCENARIOS:
            answer = phones(DIVERSION_SCENARIOS[scenario]).answer([AwaitHangup()], talk=20)
            if scenario == "callers-diversion":
                call = phones("1000").call("1002", [Pause(3), Hangup()], talk=20,
                                           headers={"Diversion": CALLERS_DIVERSION})
            else:
                call = phones("1000").call(DID_FORWARD_NUMBER, [Pause(3), Hangup()], talk=20)
            call.wait(40)
            answer.wait(30)
        tap.wait_for(f"{legs} legs to end", ended(legs), 20)
        return list(tap.events), replies
    finally:
        tap.close()
        api.close()


def emulated_run(switch, scenario: str, tmp_path) -> tuple[list[dict], dict]:
    password = "fidelity"
    with FakeSwitch(password=password, recordings_dir=str(tmp_path / "emulated"),
                    sounds_dir=str(switch.sounds)) as fs:
        tap = Esl(fs.port, password)
        api = Esl(fs.port, password)
        replies: dict = {}
        try:
            tap.subscribe(SUBSCRIBED)
            fs.wait_for_subscriber(timeout=5)
            legs = 2
            if scenario == "voicemail-retrieval":
                call = fs.voicemail_check("1000")
                call.wait(2.5)
                call.hangup("a")
                legs = 1
            else:
                if scenario == "callers-diversion":
                    call = fs.call_user_to_user("1000", "1002", diversion=CALLERS_DIVERSION)
                elif scenario == "did-forward":
                    call = fs.call_forwarded_number("1000", DID_FORWARD_NUMBER, to=DID_FORWARD_TARGET,
                                                    by=DID_FORWARDING_ACCOUNT)
                else:
                    call = fs.call_user_to_user("1000", "1001")
                call.ring()
                if scenario == "no-answer-divert":
                    call.no_answer_to_voicemail(message_seconds=1)
                    call.hangup_voicemail()
                    legs = 4
                else:
                    call.answer()
                    if scenario == "caller-hangs-up":
                        replies = probe(api, call.a.uuid, str(tmp_path / "emulated" / "fidelity.wav"),
                                        str(switch.sounds / "callrec" / "call-recording-started.wav"))
                    if scenario == "dtmf":
                        call.talk(1)
                        call.dtmf("a", "*44")
                    call.talk(3)
                    call.hangup("b" if scenario == "callee-hangs-up" else "a")
            tap.wait_for(f"{legs} legs to end", ended(legs), 10)
            return list(tap.events), replies
        finally:
            tap.close()
            api.close()


SCENARIOS = ["caller-hangs-up", "callee-hangs-up", "dtmf", "no-answer-divert", "voicemail-retrieval",
             *DIVERSION_SCENARIOS]


@pytest.fixture
def quiet_controller(product):
    """The session's controller (started by the live tests before these) must not act on these calls: on the real
    switch its recordings would add events the emulator, which has no controller, never sends."""
    for number in ("1000", "1001", "1002"):
        product.set_policy(number)  # no flags: recording off, no manual control


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_emulator_sends_what_the_real_switch_sends(switch, phones, scenario, tmp_path, quiet_controller):
    callee = "*98" if scenario == "voicemail-retrieval" else DIVERSION_SCENARIOS.get(scenario, "1001")
    live_events, live_replies = live_run(switch, phones, scenario, tmp_path)
    emulated_events, emulated_replies = emulated_run(switch, scenario, tmp_path)
    live = Capture.of(live_events, "1000", callee)
    live.replies = live_replies
    emulated = Capture.of(emulated_events, "1000", callee)
    emulated.replies = emulated_replies
    assert live.sequences.get("A"), f"no event of the caller's leg on the real switch: {live_events}"
    diffs, counts = compare(scenario, live, emulated)
    if os.environ.get("CALLREC_FIDELITY_DUMP"):  # for a look at what was compared
        with open(os.environ["CALLREC_FIDELITY_DUMP"], "a") as out:
            for side, capture in (("live", live), ("emulator", emulated)):
                out.write(json.dumps({"scenario": scenario, "side": side, "sequences": capture.sequences,
                                      "replies": capture.replies}) + "\n")
            for event in live_events:
                out.write(json.dumps({"scenario": scenario, "live": {k: v for k, v in event.items()
                                      if "Callee" in k or k in ("Event-Name", "Channel-Name",
                                                                "variable_endpoint_disposition")}}) + "\n")
    allowed = [d for d in diffs if any(fnmatch.fnmatchcase(d, pattern) for pattern in ALLOWED)]
    unexplained = [d for d in diffs if d not in allowed]
    for key in counts:
        TOTALS[key] += counts[key]
    TOTALS["allowed"] += len(allowed)
    TOTALS["scenarios"] += 1
    FIGURES.append(f"fidelity {scenario}: compared {counts['events']} events, {counts['headers']} header names, "
                   f"{counts['replies']} replies; {len(allowed)} differences allowed")
    if TOTALS["scenarios"] == len(SCENARIOS):
        FIGURES.append(f"fidelity, all scenarios: {TOTALS['events']} events, {TOTALS['headers']} header names, "
                       f"{TOTALS['replies']} replies compared; {TOTALS['allowed']} differences allowed "
                       f"({len(ALLOWED)} allow-list entries)")
    assert not unexplained, "emulator differs from the real switch:\n" + "\n".join(unexplained)
