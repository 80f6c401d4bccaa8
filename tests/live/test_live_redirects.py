"""Redirects and voicemail on a real FreeSWITCH with real SIP phones: what is recorded for whom.

"Auto record redirected calls" records a transferred or forwarded call for the redirecting account; calls to
voicemail (retrieval, or the divert of an unanswered call) are never recorded; hold keeps one recording.
Each phone talks in its own tone (tests/live/conftest.py PHONES): channel 0 of a file is the recorded leg's own
phone, channel 1 what that phone heard.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PHONES, wait_until
from .media import Recording, load_reference
from .sip import _INVITE, SDP, AwaitHangup, Hangup, Hold, Pause, Refer, _send
from .switch import DID_FORWARD_NUMBER, DID_FORWARD_TARGET, DID_FORWARDING_ACCOUNT, RING_SECONDS

ALL_AUTO = dict(auto_record_outgoing=True, auto_record_incoming=True, auto_record_redirected=True)


# ------------------------------------------------------------------------------------------------ helpers
def ids(product) -> set:
    return {r["id"] for r in product.recordings()}


def new_rows(product, seen: set, count: int, timeout: float = 30) -> list[dict]:
    """The recordings made since `seen`, once there are `count` of them and all are finalised."""
    def done():
        rows = [r for r in product.recordings() if r["id"] not in seen]
        return rows if len(rows) >= count and all(r["status"] != "recording" for r in rows) else None
    return wait_until(f"{count} new finalised recording(s)", done, timeout)


def summary(rows: list[dict]) -> set:
    return {(r["account_number"], r["direction"], r["trigger"], r["status"]) for r in rows}


def file_of(product, row) -> Recording:
    """The recording's WAV, where the controller told FreeSWITCH to write it."""
    assert row["size_bytes"] and row["size_bytes"] > 44, row
    (path,) = Path(product.switch.recordings).rglob(f"{row['call_uuid']}_{row['account_number']}.wav")
    return Recording.read(path)


def settle(product, switch, hangups_before: float, legs: int) -> None:
    """Wait until the switch has no call left and the controller has handled every leg's hangup."""
    wait_until("the switch to hang every leg up", lambda: not switch.channels(), 30)
    wait_until(f"the controller to handle {legs} hangups",
               lambda: product.events("CHANNEL_HANGUP_COMPLETE") >= hangups_before + legs, 15)


def leg_of(switch, **match) -> dict | None:
    for row in switch.channels():
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def feature_code_scenario(pcap: str) -> str:
    """Dial a feature code (*72<n>, *73): FreeSWITCH confirms with a tone as early media, then hangs up the
    unanswered call (a final non-2xx response, which the phone ACKs)."""
    sdp = SDP.format(direction="sendrecv")
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<scenario name="feature code">\n'
    xml += _send(_INVITE.format(cseq=1, auth="") + sdp.replace("[cseq_sdp]", "1"))
    xml += '  <recv response="100" optional="true"/>\n  <recv response="407" auth="true"/>\n'
    ack = ("ACK sip:[field2]@[field1] SIP/2.0\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n"
           "CSeq: {cseq} ACK\nMax-Forwards: 70\nContent-Length: 0\n")
    xml += _send(ack.format(cseq=1), retrans=False)
    xml += _send(_INVITE.format(cseq=2, auth="[authentication]\n") + sdp.replace("[cseq_sdp]", "2"))
    xml += ('  <recv response="100" optional="true"/>\n  <recv response="183" optional="true"/>\n'
            '  <recv response="480"/>\n')
    xml += _send(ack.format(cseq=2), retrans=False)
    return xml + "</scenario>\n"


def dial_feature_code(phone, code: str) -> None:
    phone._sipp("uac", feature_code_scenario(phone.pcap(3, ())), code).wait(30)


# -------------------------------------------------------------------------------------------------- voicemail
def test_voicemail_retrieval_is_never_recorded_even_when_the_account_auto_records_outgoing_calls(
        product, phones, switch):
    product.set_policy("1000", **ALL_AUTO, announcement=True)
    seen = ids(product)
    records_before = len(product.commands(r"^uuid_record"))
    hangups_before = product.events("CHANNEL_HANGUP_COMPLETE")
    # vmain answers, waits 1 s, then the voicemail menu plays; hang up before anything could be left
    phones("1000").call("*98", [Pause(2.5), Hangup()], talk=10).wait(30)
    settle(product, switch, hangups_before, 1)
    assert len(product.commands(r"^uuid_record")) == records_before
    assert [r for r in product.recordings() if r["id"] not in seen] == []


def test_the_no_answer_divert_to_voicemail_is_not_recorded_for_anyone(product, phones, switch):
    for number in ("1000", "1001"):
        product.set_policy(number, **ALL_AUTO, announcement=True)
    seen = ids(product)
    records_before = len(product.commands(r"^uuid_record"))
    hangups_before = product.events("CHANNEL_HANGUP_COMPLETE")
    ringing = phones("1001").answer([], pick_up=False)
    # the caller's 200 OK is the dialplan's own answer at the divert, RING_SECONDS after the INVITE; hang up
    # a second later, before the greeting ends (a left message would bring MWI NOTIFYs)
    call = phones("1000").call("1001", [Pause(1), Hangup()], talk=RING_SECONDS + 10)
    ringing.wait(RING_SECONDS + 20)
    call.wait(RING_SECONDS + 20)
    settle(product, switch, hangups_before, 2)  # the caller's leg and the unanswered one (plus loopback legs)
    assert len(product.commands(r"^uuid_record")) == records_before
    assert [r for r in product.recordings() if r["id"] not in seen] == []


# -------------------------------------------------------------------------------------------------- forward
def test_a_forwarded_call_is_recorded_as_redirected_for_the_forwarding_account_and_by_each_partys_own_policy(
        product, phones, switch):
    product.set_policy("1000", auto_record_outgoing=True)
    product.set_policy("1001", auto_record_redirected=True)
    product.set_policy("1002", auto_record_incoming=True)
    try:
        dial_feature_code(phones("1001"), "*721002")
        assert switch.api("db select/call_forward/1001").strip() == "1002"
        seen = ids(product)
        answer = phones("1002").answer([AwaitHangup()], talk=20)
        call = phones("1000").call("1001", [Pause(4), Hangup()], talk=20)
        call.wait(40)
        answer.wait(30)
        rows = new_rows(product, seen, 3)
        assert summary(rows) == {("1000", "outgoing", "auto", "completed"),
                                 ("1002", "incoming", "auto", "completed"),
                                 ("1001", "redirected", "auto", "completed")}
        by_account = {r["account_number"]: r for r in rows}
        # 1001 never took part: its recording is the conversation between the caller and the forward target
        redirected = file_of(product, by_account["1001"])
        assert redirected.tone_share(0, PHONES["1000"], 1) > 0.8, "channel 0: the caller"
        assert redirected.tone_share(1, PHONES["1002"], 1) > 0.8, "channel 1: the forward target"
        own = file_of(product, by_account["1002"])
        assert own.tone_share(0, PHONES["1002"], 1) > 0.8 and own.tone_share(1, PHONES["1000"], 1) > 0.8
    finally:
        dial_feature_code(phones("1001"), "*73")
        assert switch.api("db select/call_forward/1001").strip() in ("", "-ERR no reply")


# -------------------------------------------------------------------------------------- Diversion (issue 12)
def test_a_callers_own_diversion_naming_an_account_never_makes_the_call_redirected(product, phones, switch):
    """1000's INVITE to the plain extension 1002 carries `Diversion: <sip:1001@...>`: FreeSWITCH keeps it on the
    caller's leg from its creation and copies it onto 1002's leg. 1002 records by its incoming policy; 1001, which
    records redirected calls, gets nothing."""
    product.set_policy("1000")
    product.set_policy("1001", auto_record_redirected=True)
    product.set_policy("1002", auto_record_incoming=True)
    seen = ids(product)
    answer = phones("1002").answer([AwaitHangup()], talk=20)
    call = phones("1000").call("1002", [Pause(3), Hangup()], talk=20,
                               headers={"Diversion": "<sip:1001@127.0.0.1>;reason=unconditional"})
    call.wait(40)
    answer.wait(30)
    rows = new_rows(product, seen, 1)
    assert summary(rows) == {("1002", "incoming", "auto", "completed")}
    assert not product.commands(rf"^uuid_record \S+ start .*{rows[0]['call_uuid']}_1001\.wav")


def test_a_dialplan_forward_of_a_number_that_is_no_accounts_is_recorded_for_the_account_its_diversion_names(
        product, phones, switch):
    """The ISP's dialplan forwards 5550100 (nobody's number: tests/live/switch.py `live_did_forward`) to 1002 and
    names 1001 in `sip_h_Diversion` (no `callrec_redirected_by`): a call redirected by 1001."""
    product.set_policy("1000", auto_record_outgoing=True)
    product.set_policy(DID_FORWARDING_ACCOUNT, auto_record_redirected=True)
    product.set_policy(DID_FORWARD_TARGET, auto_record_incoming=True)
    seen = ids(product)
    answer = phones(DID_FORWARD_TARGET).answer([AwaitHangup()], talk=20)
    call = phones("1000").call(DID_FORWARD_NUMBER, [Pause(4), Hangup()], talk=20)
    call.wait(40)
    answer.wait(30)
    rows = new_rows(product, seen, 3)
    assert summary(rows) == {("1000", "outgoing", "auto", "completed"),
                             (DID_FORWARD_TARGET, "incoming", "auto", "completed"),
                             (DID_FORWARDING_ACCOUNT, "redirected", "auto", "completed")}
    by_account = {r["account_number"]: r for r in rows}
    # 1001 never took part: its recording is the conversation between the caller and the forward target
    redirected = file_of(product, by_account[DID_FORWARDING_ACCOUNT])
    assert redirected.tone_share(0, PHONES["1000"], 1) > 0.8, "channel 0: the caller"
    assert redirected.tone_share(1, PHONES[DID_FORWARD_TARGET], 1) > 0.8, "channel 1: the forward target"


def prepare_transfer(product, redirected_flag):
    """1000 records its outgoing calls, 1001 its redirected ones by the flag, 1002 nothing; what exists so far."""
    product.set_policy("1000", auto_record_outgoing=True)
    product.set_policy("1001", auto_record_redirected=redirected_flag)
    product.set_policy("1002")
    return ids(product), product.events("CHANNEL_HANGUP_COMPLETE")


def assert_transfer_recorded(product, switch, seen, hangups_before, redirected_flag):
    """1000 -> 1001, 1001's call handed over to 1002: 1000's own recording, plus 1001's redirected one (the caller
    and the target, never the transferor) when 1001's policy records redirected calls."""
    settle(product, switch, hangups_before, 3)
    rows = new_rows(product, seen, 2 if redirected_flag else 1)
    expected = {("1000", "outgoing", "auto", "completed")}
    if redirected_flag:
        expected.add(("1001", "redirected", "auto", "completed"))
    assert summary(rows) == expected
    if redirected_flag:
        wav = file_of(product, next(r for r in rows if r["account_number"] == "1001"))
        assert wav.tone_share(0, PHONES["1000"]) > 0.8, "the transferred caller"
        assert wav.tone_share(1, PHONES["1002"], wav.seconds - 2) > 0.8, "the transfer target"
        assert wav.tone_share(1, PHONES["1001"]) < 0.05, "the transferor is not in its redirected recording"


# ------------------------------------------------------------------------------------------------- transfers
@pytest.mark.parametrize("redirected_flag", [True, False], ids=["redirected-on", "redirected-off"])
def test_a_blind_transfer_by_refer_is_recorded_as_redirected_for_the_transferor_only_when_its_policy_says_so(
        product, phones, switch, redirected_flag):
    seen, hangups_before = prepare_transfer(product, redirected_flag)
    target = phones("1002").answer([AwaitHangup()], talk=20)
    transferor = phones("1001").answer([Pause(2), Refer("1002")], talk=20)
    call = phones("1000").call("1001", [Pause(7), Hangup()], talk=20)
    transferor.wait(30)
    call.wait(40)
    target.wait(30)
    assert_transfer_recorded(product, switch, seen, hangups_before, redirected_flag)


@pytest.mark.parametrize("redirected_flag", [True, False], ids=["redirected-on", "redirected-off"])
def test_a_blind_transfer_by_uuid_transfer_is_recorded_as_redirected_for_the_transferor_only_when_its_policy_says_so(
        product, phones, switch, redirected_flag):
    seen, hangups_before = prepare_transfer(product, redirected_flag)
    target = phones("1002").answer([AwaitHangup()], talk=20)
    transferor = phones("1001").answer([AwaitHangup()], talk=20)
    call = phones("1000").call("1001", [Pause(6), Hangup()], talk=20)

    def talking():
        legs = [c for c in switch.channels() if c.get("callstate") == "ACTIVE"]
        return len(legs) == 2 and next((c for c in legs if c["direction"] == "inbound" and c["cid_num"] == "1000"),
                                        None)
    caller_leg = wait_until("1000 and 1001 talking", talking, 15)
    # the switch moves the caller's leg to 1002: 1001's leg loses its partner and is hung up, so 1001 is the
    # party that handed the call over
    assert "+OK" in switch.api(f"uuid_transfer {caller_leg['uuid']} 1002 XML default")
    transferor.wait(15)
    call.wait(40)
    target.wait(30)
    assert_transfer_recorded(product, switch, seen, hangups_before, redirected_flag)


# ------------------------------------------------------------------------------------------------------ hold
def test_hold_and_resume_keep_one_recording_and_one_announcement_per_account(product, phones, switch):
    for number in ("1000", "1001"):
        product.set_policy(number, **ALL_AUTO, announcement=True)
    seen = ids(product)
    displaced_before = len(product.commands(r"^uuid_displace .* start "))
    answer = phones("1001").answer([AwaitHangup()], talk=20)
    call = phones("1000").call("1001", [Pause(2.5), Hold(), Pause(2), Hold(resume=True), Pause(2.5), Hangup()],
                               talk=20)
    call.wait(40)
    answer.wait(30)
    rows = new_rows(product, seen, 2)
    assert sorted(summary(rows)) == [("1000", "outgoing", "auto", "completed"),
                                     ("1001", "incoming", "auto", "completed")]
    (call_uuid,) = {r["call_uuid"] for r in rows}
    assert len(product.commands(rf"^uuid_record \S+ start .*{call_uuid}")) == 2
    files = sorted(p.name for p in Path(switch.recordings).rglob(f"{call_uuid}_*.wav"))
    assert files == [f"{call_uuid}_1000.wav", f"{call_uuid}_1001.wav"]
    displaced = product.commands(r"^uuid_displace .* start ")[displaced_before:]
    assert len(displaced) == 2 and len({c.split()[1] for c in displaced}) == 2, displaced
    ref = load_reference(switch.sounds / "callrec" / "8000" / "call-recording-started.wav")
    wavs = {}
    for row in rows:
        number, other = row["account_number"], "1001" if row["account_number"] == "1000" else "1000"
        wav = wavs[number] = file_of(product, row)
        for channel in (0, 1):
            found = wav.find_all(channel, ref)
            assert len(found) == 1 and found[0][0] < 1.0, f"{number} channel {channel}: announcement at {found}"
        assert wav.tone_share(0, PHONES[number], 0.5, 1.5) > 0.6, "before the hold, the account's phone"
        assert wav.tone_share(0, PHONES[number], wav.seconds - 2) > 0.8, "after the resume, the account's phone"
        assert wav.tone_share(1, PHONES[other], wav.seconds - 2) > 0.8, "after the resume, the other party"
    # the held party's file spans the whole call: the talk before the hold, the hold, the talk after the resume
    assert 7 <= wavs["1001"].seconds < 10, wavs["1001"].seconds
    # FreeSWITCH sends the holder nothing while it holds (its answer is a=recvonly), and a stereo recording
    # only gets frames with both directions: the holder's file is the talk before and after, without the hold
    # (seen on FreeSWITCH 1.10 although the holder's phone kept sending its tone throughout)
    assert 4.5 < wavs["1000"].seconds <= wavs["1001"].seconds - 1.5, (wavs["1000"].seconds, wavs["1001"].seconds)
