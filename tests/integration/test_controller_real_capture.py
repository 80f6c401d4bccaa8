"""The real controller fed REAL FreeSWITCH event streams (tests/integration/replay.py), not the emulator's.

The main capture (`fs1.10-call-record-broadcast-dtmf.txt`) is a complete FreeSWITCH 1.10 call on the stock
configuration, 1000 -> 1001, seen by an `event plain ALL` listener:

* A-leg 65eb49ab... `sofia/internal/1000@127.0.0.1`, Call-Direction inbound, `variable_user_name: 1000`
  (1000's leg: its outgoing call); B-leg 9aa47b78... `user/1001`, Call-Direction outbound,
  `variable_dialed_user: 1001` (1001's leg: its incoming call), known from its CHANNEL_ANSWER;
* one CHANNEL_BRIDGE, on the A-leg, with Bridge-A/B-Unique-ID;
* a RECORD_START on the A-leg from a `uuid_record` of the capture-maker's own client (no callrec tag, no
  `sofia_record_file`), a `uuid_broadcast ... both` (CHANNEL_EXECUTE/PLAYBACK_* on both legs; the capture-maker's own, not callrec's), RFC 2833
  DTMF `1`, `5` on the A-leg only, the B-leg's HANGUP_COMPLETE before the A-leg's.

Nothing writes recording files in a replay, so every finalised recording is `missing` and its delivery is
skipped with that reason.
"""
from __future__ import annotations

import dataclasses
import logging
import re

import pytest

from callrec.config import load_config
from callrec.models import Settings, db
from controller.builder import build_controller
from tests.integration.controller_harness import SOUNDS_DIR, Harness, wait_for
from tests.integration.replay import (CGRATES_TRANSFERRED_ANSWER, FS110_CALL, ReplaySwitch, load_capture,
                                      rewrite)

A = "65eb49ab-6089-4675-9fa0-aecd63c3b0ac"   # 1000's leg (it called)
B = "9aa47b78-8af6-4a96-9fda-79afa51e63e9"   # 1001's leg (it was called)
FOREIGN_PATH = "/var/lib/freeswitch/recordings/callrec/test.wav"
FRAMES = load_capture(FS110_CALL)


def index(name: str, nth: int = 1, uuid: str | None = None) -> int:
    return [f.index for f in FRAMES if f.name == name and (uuid is None or f.uuid == uuid)][nth - 1]


BRIDGE = index("CHANNEL_BRIDGE")
FOREIGN_RECORD_START = index("RECORD_START")
DTMF_1, DTMF_5 = index("DTMF", 1), index("DTMF", 2)
B_HANGUP, A_HANGUP = index("CHANNEL_HANGUP_COMPLETE", uuid=B), index("CHANNEL_HANGUP_COMPLETE", uuid=A)


class ErrorLog(logging.Handler):
    """Every ERROR (or worse) record of the controller's loggers, e.g. a handler that raised."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.name.startswith("controller"):
            self.records.append(record)


class ReplayHarness(Harness):
    """The controller harness (real controller, real database) with a ReplaySwitch instead of the emulator."""

    TIMEOUT = 15.0  # upper bounds of condition waits (never sleeps): generous for a loaded CI machine

    def __init__(self, app, frames, honour_subscriptions: bool = True):
        self.app = app
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if name.startswith("controller") and isinstance(logger, logging.Logger):
                logger.disabled = False
        self.recordings_dir = app.config["RECORDINGS_DIR"]
        self.fs = ReplaySwitch(frames, honour_subscriptions=honour_subscriptions).start()
        self.config = load_config(environ={}, overrides={
            "CALLREC_ESL_HOST": "127.0.0.1", "CALLREC_ESL_PORT": self.fs.port, "CALLREC_ESL_PASSWORD": "ClueCon",
            "CALLREC_RECORDINGS_DIR": self.recordings_dir, "CALLREC_SOUNDS_DIR": str(SOUNDS_DIR),
            "CALLREC_METRICS_PORT": 0, "CALLREC_POLICY_REFRESH_SECONDS": 0.05, "CALLREC_STATUS_SECONDS": 0.2,
            "CALLREC_ESL_COMMAND_TIMEOUT": 2.0, "CALLREC_ESL_AUTH_TIMEOUT": 1.0, "CALLREC_ESL_BACKOFF_MAX": 0.2,
            "CALLREC_NODE_NAME": "replay-node"})
        self.controller = None
        self.errors = ErrorLog()
        logging.getLogger("controller").addHandler(self.errors)
        with app.app_context():
            db.session.get(Settings, 1).records_delivery_enabled = True
            db.session.commit()

    def start(self, wait: bool = True):
        self.controller = build_controller(self.config, app=self.app, run_delivery=False, backoff_initial=0.05)
        self.controller.start()
        assert self.controller.esl.connected_event.wait(self.TIMEOUT), "controller did not connect"
        self.off_hub(self.fs.wait_subscribed, self.TIMEOUT)
        wait_for(lambda: self.controller.resync.runs >= 1, self.TIMEOUT, "the resync after connecting")
        return self.controller

    def stop(self):
        logging.getLogger("controller").removeHandler(self.errors)
        if self.controller is not None:
            self.controller.stop()
        self.fs.stop()

    def play(self, until: int | None = None):
        """Stream the capture up to event `until` (inclusive) and wait until the controller handled it all."""
        self.off_hub(self.fs.play, until)
        self.settle()

    def settle(self, timeout: float = TIMEOUT):
        c = self.controller
        before = c.metrics.event_counts.get("HEARTBEAT", 0)
        self.off_hub(self.fs.marker)
        wait_for(lambda: c.metrics.event_counts.get("HEARTBEAT", 0) > before, timeout, "the controller")
        wait_for(lambda: c.sender.idle(), timeout, "commands in flight")
        wait_for(lambda: c.writes.idle.is_set() and not c.writes.jobs, timeout, "database writes")

    def commands(self, pattern: str = ""):
        return self.fs.matching(pattern)

    def wait_recordings(self, count: int, timeout: float = TIMEOUT, **filters):
        return super().wait_recordings(count, timeout, **filters)

    def wait_finalised(self, count: int = 1, timeout: float = TIMEOUT, **filters):
        return super().wait_finalised(count, timeout, **filters)

    def assert_no_handler_errors(self):
        assert [r.getMessage() for r in self.errors.records] == []
        errors = self.controller.metrics.handler_errors
        assert sum(sample.value for metric in errors.collect() for sample in metric.samples
                   if sample.name.endswith("_total")) == 0


@pytest.fixture
def replay(app):
    made = []

    def make(frames=FRAMES, **kw):
        harness = ReplayHarness(app, frames, **kw)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.stop()


def starts(h):
    return [(c.line.split()[1], re.search(r"callrec_account=(\w+)", c.line).group(1), c.after)
            for c in h.commands(r"^uuid_record \S+ start ")]


OFF = dict(enabled=True)
OUT = dict(enabled=True, auto_record_outgoing=True, email_delivery=True)
IN = dict(enabled=True, auto_record_incoming=True, email_delivery=True)
BOTH = dict(enabled=True, auto_record_outgoing=True, auto_record_incoming=True, email_delivery=True)


@pytest.mark.parametrize(("policy_1000", "policy_1001", "expected"), [
    pytest.param(OUT, OFF, [(A, "1000")], id="1000-records-its-outgoing-call-on-its-A-leg"),
    pytest.param(OFF, IN, [(B, "1001")], id="1001-records-its-incoming-call-on-its-B-leg"),
    pytest.param(BOTH, BOTH, [(A, "1000"), (B, "1001")], id="both-accounts-each-on-their-own-leg"),
    pytest.param(IN, dict(OUT), [], id="wrong-direction-flags-record-nothing"),
    pytest.param(dict(OUT, enabled=False), dict(IN, enabled=False), [], id="disabled-records-nothing"),
    pytest.param(dict(manual_control=True, enabled=True), OFF, [], id="manual-only-records-nothing-automatically"),
])
def test_real_fs110_call_is_auto_recorded_at_the_bridge_on_each_accounts_own_leg(replay, policy_1000, policy_1001,
                                                                                expected):
    h = replay()
    h.account("1000", **policy_1000)
    h.account("1001", **policy_1001)
    h.start()
    h.play(BRIDGE - 1)
    assert h.commands("^uuid_record") == [], "nothing may start before the CHANNEL_BRIDGE (answer is no proof)"
    h.play(BRIDGE)
    assert sorted(starts(h)) == sorted((leg, acct, BRIDGE) for leg, acct in expected)
    for cmd in h.commands(r"^uuid_record \S+ start "):
        leg, account = cmd.line.split()[1], re.search(r"callrec_account=(\w+)", cmd.line).group(1)
        # the call key is the A-leg's uuid for both accounts; B-legs of user/ get record_stereo only after the
        # bridge, so the stereo setting travels with the command
        assert re.search(rf"/\d{{4}}/\d\d/\d\d/{A}_{account}\.wav 0 \{{", cmd.line), cmd.line
        assert "RECORD_STEREO=true" in cmd.line and "callrec_trigger=auto" in cmd.line
        assert cmd.reply == "+OK Success\n"
    h.play()
    assert len(h.commands(r"^uuid_record \S+ start ")) == len(expected), "broadcast/playback events start nothing"
    assert h.commands(r"^uuid_record \S+ stop|^uuid_setvar") == []
    rows = h.wait_finalised(len(expected)) if expected else h.recordings()
    assert sorted((r.leg_uuid, r.account_number) for r in rows) == sorted(expected)
    for row in rows:
        assert row.call_uuid == A
        assert row.direction == ("outgoing" if row.account_number == "1000" else "incoming")
        assert (row.status, row.delivery.status, row.delivery.reason) == ("missing", "skipped", "recording missing")
    h.assert_no_handler_errors()


@pytest.mark.parametrize("leg_account", ["1000", "1001"])
def test_announcement_is_mixed_into_both_parties_legs_only_after_the_record_command_succeeded(replay, leg_account):
    h = replay()
    h.account("1000", **dict(OUT if leg_account == "1000" else OFF, announcement=True))
    h.account("1001", **dict(IN if leg_account == "1001" else OFF, announcement=True))
    h.start()
    h.play(BRIDGE)
    leg = A if leg_account == "1000" else B
    record, *displaced = h.commands(rf"^uuid_(record {leg} |displace )")
    assert record.line.startswith(f"uuid_record {leg} start ") and record.reply == "+OK Success\n"
    sound = f"{SOUNDS_DIR}/callrec/call-recording-started.wav"
    assert [d.line for d in displaced] == [f"uuid_displace {A} start {sound} 0 rm",
                                          f"uuid_displace {B} start {sound} 0 rm"]
    assert all(d.reply == "+OK Success\n" for d in displaced)
    assert h.commands(r"^uuid_broadcast") == []
    h.play()
    h.assert_no_handler_errors()


@pytest.mark.parametrize("manual_control", [True, False])
def test_a_recording_started_by_another_event_socket_client_is_left_alone(replay, manual_control):
    """The capture's RECORD_START comes from the capture-maker's own `uuid_record` on 1000's leg: no callrec tag,
    no `sofia_record_file` — not ours and not the phone's Record key. It is neither adopted (its file would be
    mailed to 1000) nor refused (stopping it would break the other client's recording)."""
    h = replay()
    h.account("1000", enabled=True, manual_control=manual_control)
    h.account("1001", enabled=True, manual_control=manual_control)
    h.start()
    h.play(FOREIGN_RECORD_START)
    # only questions: the resync, and whether the phone's Record key started it (on a real switch its
    # RECORD_START comes before mod_sofia sets sofia_record_file, so the controller asks the leg)
    asked = wait_for(lambda: h.commands(r"^uuid_getvar \S+ sofia_record_file$"))
    assert {a.reply for a in asked} == {"_undef_"}
    assert h.commands() == [c for c in h.commands()
                            if c.line.startswith(("show channels", "uuid_dump", "uuid_getvar"))]
    h.play()
    assert h.commands(r"^uuid_setvar|^uuid_record") == []
    assert h.recordings() == []
    h.assert_no_handler_errors()


@pytest.mark.parametrize(("manual_control", "adopted"), [(True, True), (False, False)])
def test_the_phones_record_key_on_a_real_record_start_is_adopted_or_refused(replay, manual_control, adopted):
    """The same real RECORD_START as mod_sofia's Record key sends it: `sofia_record_file` names the file."""
    frames = list(FRAMES)
    frames[FOREIGN_RECORD_START] = rewrite(FRAMES[FOREIGN_RECORD_START], FOREIGN_RECORD_START, add=[
        ("variable_sofia_record_file", "/var/lib/freeswitch/recordings/callrec/test.wav")])
    h = replay(frames)
    h.account("1000", enabled=True, manual_control=manual_control, email_delivery=True)
    h.account("1001", enabled=True, manual_control=True)
    h.start()
    h.play(FOREIGN_RECORD_START)
    refusal = h.commands(r"^uuid_setvar|^uuid_record")
    if adopted:
        assert refusal == []
        (row,) = h.wait_recordings(1)
        assert (row.account_number, row.leg_uuid, row.trigger) == ("1000", A, "phone")
    else:
        assert [c.line for c in refusal] == [f"uuid_setvar {A} sip_disable_recording true",
                                             f"uuid_record {A} stop {FOREIGN_PATH}"]
        assert all(c.after == FOREIGN_RECORD_START for c in refusal)
        assert h.recordings() == []
    h.play()
    h.assert_no_handler_errors()


def test_real_dtmf_digits_count_only_for_the_leg_that_pressed_them(replay):
    """The capture's RFC 2833 digits `1`, `5` arrive on 1000's leg only (600 ms apart); DTMF events carry no
    variables, so the leg is known from its earlier events. With `15` as both accounts' start code, only 1000
    starts recording, on its own leg, at the second digit."""
    h = replay()
    h.account("1000", enabled=True, manual_control=True, codes=("15", "#9"), email_delivery=True)
    h.account("1001", enabled=True, manual_control=True, codes=("15", "#9"), email_delivery=True)
    h.start()
    h.play(DTMF_1)
    assert h.commands("^uuid_record") == []
    h.play(DTMF_5)
    (start,) = h.commands(r"^uuid_record \S+ start ")
    assert start.line.split()[1] == A and "callrec_account=1000" in start.line
    assert "callrec_trigger=manual" in start.line and start.after == DTMF_5
    assert not start.line.split()[3].startswith("/var/lib/freeswitch"), "never resumes someone else's file"
    h.play()
    (row,) = h.wait_finalised(1)
    assert (row.account_number, row.leg_uuid, row.trigger, row.direction) == ("1000", A, "manual", "outgoing")
    assert (row.status, row.delivery.status) == ("missing", "skipped")
    h.assert_no_handler_errors()


def test_every_event_of_the_capture_is_handled_without_an_error_when_subscribed_to_all(replay):
    """All 137 events (CUSTOM sofia::*, API, COMMAND, CODEC, PLAYBACK_*, MEDIA_BUG_*, ...) reach the controller,
    as if another component had asked for ALL; only the subscribed ones are acted upon."""
    h = replay(honour_subscriptions=False)
    h.account("1000", **BOTH)
    h.account("1001", **BOTH)
    h.start()
    h.play(BRIDGE)  # pause: the switch answers uuid_record only while the legs live
    h.play()
    assert sorted((leg, acct) for leg, acct, _ in starts(h)) == [(A, "1000"), (B, "1001")]
    h.wait_finalised(2)
    assert sum(h.controller.metrics.event_counts.get(name, 0) for name in ("API", "CODEC", "PLAYBACK_START")) > 0
    h.assert_no_handler_errors()


def test_hangup_complete_of_the_b_leg_first_then_the_a_leg_finalises_each_recording_once(replay):
    h = replay()
    h.account("1000", **OUT)
    h.account("1001", **IN)
    h.start()
    h.play(B_HANGUP)
    (b_row,) = h.wait_finalised(1)
    assert b_row.leg_uuid == B
    assert [r.status for r in h.recordings(account_number="1000")] == ["recording"]
    h.play()
    rows = h.wait_finalised(2)
    assert sorted(r.leg_uuid for r in rows) == sorted([A, B])
    assert all(r.delivery is not None and r.delivery.status == "skipped" for r in rows)
    h.assert_no_handler_errors()


@pytest.mark.parametrize("joined_at", [BRIDGE + 2, DTMF_1])
def test_controller_connecting_mid_call_resyncs_and_records_once(replay, joined_at):
    """Connected after the bridge: the events that follow are for channels it never saw created. The resync
    (`show channels as json` + `uuid_dump`) learns them and starts the missing recordings, once."""
    h = replay()
    h.account("1000", **OUT)
    h.account("1001", **IN)
    h.fs.advance(joined_at)
    h.start()
    h.settle()
    assert sorted((leg, acct) for leg, acct, _ in starts(h)) == [(A, "1000"), (B, "1001")]
    assert all(after == joined_at for _, _, after in starts(h))
    h.play()
    assert len(starts(h)) == 2
    assert len(h.wait_finalised(2)) == 2
    h.assert_no_handler_errors()


def test_events_for_legs_never_seen_are_tolerated_when_the_resync_finds_nothing(replay):
    """A DTMF, RECORD_START, UNBRIDGE and HANGUP_COMPLETE for legs the controller never saw and FreeSWITCH no
    longer lists (the resync saw an empty switch) raise nothing and start nothing."""
    late = [dataclasses.replace(f, index=i) for i, f in enumerate(f for f in FRAMES if f.index > DTMF_1)]
    h = replay(late)
    h.account("1000", **dict(BOTH, manual_control=True))
    h.account("1001", **dict(BOTH, manual_control=True))
    h.start()
    h.play()
    assert h.commands("^uuid_record|^uuid_setvar") == []
    assert h.recordings() == []
    h.assert_no_handler_errors()


def test_conference_join_is_an_outgoing_call_of_the_account_and_auto_recorded(replay):
    """An account calling a conference on the switch: answered, never bridged. The real A-leg headers, re-sent
    as mod_conference's `conference::maintenance` add-member, start 1000's outgoing recording on its own leg."""
    answer_a = next(f for f in FRAMES if f.name == "CHANNEL_ANSWER" and f.uuid == A)
    frames = [rewrite(answer_a, 0, replace={"Caller-Destination-Number": "3000"}),
              rewrite(answer_a, 1, replace={"Event-Name": "CUSTOM", "Caller-Destination-Number": "3000"},
                      add=[("Event-Subclass", "conference%3A%3Amaintenance"), ("Action", "add-member"),
                           ("Conference-Name", "3000-127.0.0.1"), ("Member-ID", "1")])]
    h = replay(frames)
    h.account("1000", **OUT)
    h.start()
    h.play(0)
    assert h.commands("^uuid_record") == [], "an answer alone (IVR, voicemail) records nothing"
    h.play(1)
    assert [(leg, acct) for leg, acct, _ in starts(h)] == [(A, "1000")]
    h.assert_no_handler_errors()


def test_public_to_default_transfer_of_an_incoming_call_is_not_a_redirect(replay):
    """Real CHANNEL_ANSWER of a call the dialplan `transfer`red (Caller-RDNIS, a bl_xfer transfer_source/history,
    Caller-Profile-Index 2): bridged to 1002, it is 1001's outgoing and 1002's incoming call, nobody's
    redirected one."""
    (answer_a,) = load_capture(CGRATES_TRANSFERRED_ANSWER)
    a_uuid = answer_a.uuid
    b_uuid = "0b1e6c1e-0000-4000-8000-000000001002"
    b_answer = next(f for f in FRAMES if f.name == "CHANNEL_ANSWER" and f.uuid == B)
    frames = [
        rewrite(answer_a, 0),
        rewrite(b_answer, 1, replace={"Unique-ID": b_uuid, "Caller-Unique-ID": b_uuid, "Channel-Call-UUID": a_uuid,
                                      "variable_dialed_user": "1002", "variable_originator": a_uuid,
                                      "Other-Leg-Unique-ID": a_uuid}),
        rewrite(answer_a, 2, replace={"Event-Name": "CHANNEL_BRIDGE"},
                add=[("Bridge-A-Unique-ID", a_uuid), ("Bridge-B-Unique-ID", b_uuid)]),
    ]
    h = replay(frames)
    h.account("1001", enabled=True, auto_record_outgoing=True, auto_record_redirected=True)
    h.account("1002", enabled=True, auto_record_incoming=True, auto_record_redirected=True)
    h.start()
    h.play()
    assert sorted((leg, acct) for leg, acct, _ in starts(h)) == sorted([(a_uuid, "1001"), (b_uuid, "1002")])
    rows = h.wait_recordings(2)
    assert sorted((r.account_number, r.direction) for r in rows) == [("1001", "outgoing"), ("1002", "incoming")]
    h.assert_no_handler_errors()


def _wav(path: str, seconds: float = 2.0) -> None:
    import os
    import wave
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0\0\0" * int(8000 * seconds))


def test_hangup_complete_before_record_stop_finalises_after_freeswitch_closed_the_file(replay):
    """Order-tolerant: on some versions CHANNEL_HANGUP_COMPLETE comes before the RECORD_STOP of our recording.
    Our RECORD_START/STOP are the capture's real ones re-tagged as FreeSWITCH tags ours (Recording-Variable-*)."""
    h = replay()
    h.account("1000", **OUT)
    h.account("1001", enabled=True)
    h.start()
    h.play(BRIDGE)
    (start,) = h.commands(r"^uuid_record \S+ start ")
    path = start.line.split()[3]
    ours = [("Recording-Variable-callrec_account", "1000"), ("Recording-Variable-callrec_call", A)]
    h.off_hub(h.fs.send_extra, rewrite(FRAMES[FOREIGN_RECORD_START], 0, replace={"Record-File-Path": path},
                                       add=ours))
    record_stop = index("RECORD_STOP")
    h.play(record_stop - 1)
    h.fs.advance(record_stop)          # the foreign file's RECORD_STOP is not ours: skip it
    h.play(A_HANGUP)
    assert [r.status for r in h.recordings(account_number="1000")] == ["recording"], "the file is still open"
    _wav(path)                         # FreeSWITCH finishes writing the file ...
    h.off_hub(h.fs.send_extra, rewrite(FRAMES[record_stop], 0, replace={"Record-File-Path": path}, add=ours))
    (row,) = h.wait_finalised(1)       # ... and only then closes it
    assert (row.status, row.leg_uuid, row.delivery.status) == ("completed", A, "pending")
    assert row.duration_seconds == pytest.approx(2.0)
    h.assert_no_handler_errors()
