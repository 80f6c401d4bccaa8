"""Auto recording on a real FreeSWITCH with real SIP phones: files, rows, mails and the commands sent.

Each phone talks in its own tone (tests/live/conftest.py PHONES), so a stereo file shows who is on which channel:
channel 0 is the recorded leg's own phone, channel 1 what that phone heard.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PHONES, wait_until
from .media import Recording, load_reference
from .sip import AwaitHangup, Hangup, Pause

ALL_AUTO = dict(auto_record_outgoing=True, auto_record_incoming=True, auto_record_redirected=True,
                announcement=True, email_delivery=True, manual_control=True)


def announcement(switch) -> "object":
    return load_reference(switch.sounds / "callrec" / "8000" / "call-recording-started.wav")


def file_of(product, row) -> Recording:
    """The recording's WAV as FreeSWITCH wrote it, found where the controller told FreeSWITCH to write it."""
    assert row["size_bytes"] and row["size_bytes"] > 44, row
    (path,) = Path(product.switch.recordings).rglob(f"{row['call_uuid']}_{row['account_number']}.wav")
    return Recording.read(path)


def place_call(phones, caller: str, callee: str, talk: float = 6.0, **kw):
    """`caller` calls `callee`, both talk for `talk` seconds, the caller hangs up; returns the A-leg's call uuid."""
    answer = phones(callee).answer([AwaitHangup()], talk=talk + 10, **kw)
    call = phones(caller).call(callee, [Pause(talk), Hangup()], talk=talk + 10)
    call.wait(talk + 30)
    answer.wait(30)


def call_uuid_of(product, number: str, since_rows: set) -> str:
    rows = wait_until(f"a recording of {number}", lambda: [r for r in product.recordings(account_id=product.account(
        number)["id"]) if r["id"] not in since_rows], 20)
    return rows[0]["call_uuid"]


def ids(product) -> set:
    return {r["id"] for r in product.recordings()}


def test_both_accounts_on_one_call_each_get_their_own_recording_and_every_party_hears_the_announcement_once(
        product, phones, mailbox, switch):
    product.set_policy("1000", **ALL_AUTO)
    product.set_policy("1001", **ALL_AUTO)
    seen = ids(product)
    place_call(phones, "1000", "1001", talk=6)
    call_uuid = call_uuid_of(product, "1000", seen)
    rows = product.finished_recordings(call_uuid, 2)
    by_account = {r["account_number"]: r for r in rows}
    assert {(n, r["direction"], r["trigger"], r["status"]) for n, r in by_account.items()} == {
        ("1000", "outgoing", "auto", "completed"), ("1001", "incoming", "auto", "completed")}
    ref = announcement(switch)
    for number, other in (("1000", "1001"), ("1001", "1000")):
        wav = file_of(product, by_account[number])
        assert len(wav.channels) == 2 and wav.rate == 8000
        assert wav.tone_share(0, PHONES[number], 3) > 0.8, "channel 0 is the account's own phone"
        assert wav.tone_share(1, PHONES[other], 3) > 0.8, "channel 1 is the other party"
        assert 4 < wav.seconds < 9
        for channel in (0, 1):
            found = wav.find_all(channel, ref)
            assert len(found) == 1, f"{number} channel {channel}: announcement at {found}"
            assert found[0][0] < 1.0, "the announcement is at the start of the recording"
    # one announcement per party: one displace per leg of the call, whatever number of recordings started
    call_legs = {r["leg_uuid"] for r in rows}
    displaced = [c for c in product.commands(r"^uuid_displace .* start .*call-recording-started")
                 if c.split()[1] in call_legs]
    assert sorted(c.split()[1] for c in displaced) == sorted(call_legs), displaced
    assert product.commands(r"^uuid_broadcast") == []  # never, in the whole session
    messages = mailbox.wait(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["alice@example.test", "bob@example.test"]
    for message in messages:
        (attachment,) = list(message.parsed().iter_attachments())
        assert attachment.get_content_type() == "audio/wav"


@pytest.mark.parametrize(("caller_flags", "callee_flags", "recorded"), [
    (dict(auto_record_outgoing=True), dict(auto_record_outgoing=True), {("1000", "outgoing")}),
    (dict(auto_record_incoming=True), dict(auto_record_incoming=True), {("1001", "incoming")}),
    (dict(auto_record_outgoing=True, enabled=False), dict(auto_record_incoming=True, enabled=False), set()),
], ids=["outgoing-only", "incoming-only", "disabled"])
def test_each_direction_is_auto_recorded_only_when_the_accounts_policy_says_so(product, phones, caller_flags,
                                                                               callee_flags, recorded):
    product.set_policy("1000", **caller_flags)
    product.set_policy("1001", **callee_flags)
    seen = ids(product)
    uuid_count_before = len(product.commands(r"^uuid_record \S+ start"))
    hangups_before = product.events("CHANNEL_HANGUP_COMPLETE")
    place_call(phones, "1000", "1001", talk=3)
    wait_until("the controller to handle both hangups",
               lambda: product.events("CHANNEL_HANGUP_COMPLETE") >= hangups_before + 2, 10)
    if recorded:
        number = next(iter(recorded))[0]
        call_uuid = call_uuid_of(product, number, seen)
        rows = product.finished_recordings(call_uuid, 1)
        assert {(r["account_number"], r["direction"]) for r in rows} == recorded
    new_rows = [r for r in product.recordings() if r["id"] not in seen]
    assert {(r["account_number"], r["direction"]) for r in new_rows} == recorded
    assert len(product.commands(r"^uuid_record \S+ start")) - uuid_count_before == len(recorded)
