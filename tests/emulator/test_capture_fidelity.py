"""Emulated events against real FreeSWITCH captures (tests/fakeswitch/data/, copied from
../shared/freeswitch/captures): for every event type with a modern capture, the emulated event
of the same kind carries at least the capture's header names, in the same order."""
import glob
import os

import pytest

from tests.fakeswitch import templates

CAPTURES = sorted(glob.glob(os.path.join(templates.CAPTURES_DIR, "*.txt")))
# Outbound-socket-only headers of the connect reply (not an inbound event).
OUTBOUND_ONLY = {"Content-Type", "Reply-Text", "Socket-Mode", "Control", "Content-Length"}
# Present only when another installation sets them (presence data, external session ids).
CONDITIONAL = {"Channel-Presence-Data", "Session-External-ID"}
# The outbound-socket connect reply serialises the profile with a "Channel-" prefix: not an
# inbound event at all, so it has nothing to compare against.
# Codecs at CHANNEL_CREATE exist only when media was negotiated before the session ran (older
# versions / configs); the vanilla 1.10 capture (fs110_call.txt) has none there.
CONDITIONAL_BY_EVENT = {"CHANNEL_CREATE": {"Channel-%s-Codec-%s" % (d, f) for d in ("Read", "Write")
                                           for f in ("Name", "Rate", "Bit-Rate")}}
NOT_INBOUND = {"CHANNEL_DATA_connect-reply_davec82-outboundsocket.txt"}


def capture_headers(path):
    """Header names of the event in a capture file, in order (comments/outer headers skipped)."""
    names, started = [], False
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("#") or line.startswith("===="):
            continue
        if not started and (line.startswith("Event-Name:") or line.startswith("Event-Subclass:")):
            started = True
        if not started:
            continue
        if not line.strip():
            break
        if ": " in line:
            names.append(line.split(": ", 1)[0].strip())
    return names


def modern(names):
    """Captures new enough to compare (Event-Sequence exists since ~2010; channel events also
    need Channel-Call-UUID)."""
    if "Event-Sequence" not in names:
        return False
    return "Unique-ID" not in names or "Channel-Call-UUID" in names


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    """Run calls covering every captured event type; -> list of (name, headers)."""
    from tests.emulator.conftest import RawClient
    from tests.fakeswitch import FakeSwitch, audio

    tmp = tmp_path_factory.mktemp("fidelity")
    ann = audio.make_announcement(str(tmp / "ann.wav"))
    with FakeSwitch(recordings_dir=str(tmp)) as fs:
        c = RawClient(fs.port).login(events="BACKGROUND_JOB")
        call = fs.call_user_to_user("1000", "1001").ring().answer()
        with fs.lock:
            from tests.fakeswitch import commands
            commands.execute(fs, "uuid_record %s start %s/r.wav" % (call.a.uuid, tmp))
            commands.execute(fs, "uuid_broadcast %s %s both" % (call.a.uuid, ann))
        call.talk(2)
        call.dtmf("a", "1")
        call.dtmf("b", "2")
        with fs.lock:
            commands.execute(fs, "uuid_record %s stop all" % call.a.uuid)
            fs.emit(fs.renderer.channel_event("CHANNEL_DATA", call.a, fs.next_seq(), with_vars=True))
        fs.heartbeat()
        call.hangup("a")
        ext = fs.call_external_to_user("15551234567", "1002").ring().answer()
        ext.hangup("b")
        fs.voicemail_check("1003").hangup("a")
        alias = fs.call_user_to_user("1001", "1003", dialed="3333").ring().answer()
        alias.hangup("a")
        c.command("bgapi status")
        fs.wait_for_event("BACKGROUND_JOB", timeout=5)
        c.close()
        return [(ev.name, ev) for ev in fs.events]


def pick(emulated, name, like):
    """The emulated event of ``name`` whose leg role (direction, transferred, Other-Type) is
    closest to the captured one."""
    cands = [ev for n, ev in emulated if n == name]
    assert cands, "emulator never produced %s" % name
    keys = ("Call-Direction", "Other-Type", "Caller-RDNIS", "Application", "Channel-Read-Codec-Name",
            "Caller-Callee-ID-Name", "Caller-Username", "Caller-Transfer-Source", "Other-Leg-RDNIS")

    def score(ev):
        d = dict(ev.headers())
        return sum(2 * (d.get(k) == like.get(k)) if k in ("Application", "Call-Direction") else
                   (k in d) == (k in like) for k in keys)
    return max(cands, key=score)


def _cases():
    cases = []
    for path in CAPTURES:
        names = capture_headers(path)
        if names and modern(names) and os.path.basename(path) not in NOT_INBOUND:
            cases.append(pytest.param(path, id=os.path.basename(path)))
    return cases


def _values(path):
    d = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    for line in lines:
        if ": " in line and not line.startswith("#"):
            k, v = line.rstrip("\n").split(": ", 1)
            d.setdefault(k.strip(), v)
    return d


@pytest.mark.parametrize("path", _cases())
def test_emulated_event_has_capture_header_names_in_same_order(emulated, path):
    names = [n for n in capture_headers(path) if n not in OUTBOUND_ONLY]
    like = _values(path)
    name = like.get("Event-Name")
    ev = pick(emulated, name, like)
    got = [k for k, _ in ev.headers()]
    # variables depend on the installation: require those a vanilla 1.10 also has for that event
    direction = dict(ev.headers()).get("Call-Direction")
    vanilla_vars = {k for h in templates.capture_events() for k, _ in h
                    if dict(h).get("Event-Name") == name and dict(h).get("Call-Direction") == direction
                    and k.startswith("variable_") and not templates.DYNAMIC.match(k[9:])}
    conditional = CONDITIONAL | CONDITIONAL_BY_EVENT.get(name, set())
    required = [n for n in names if n not in conditional and
                (not n.startswith("variable_") or n in vanilla_vars)]
    missing = [n for n in required if n not in got]
    assert not missing, "%s lacks %s" % (name, missing)
    common = [n for n in dict.fromkeys(required) if not n.startswith("variable_")]
    order_got = [n for n in dict.fromkeys(got) if n in common]
    assert order_got == common


def test_every_fs110_event_type_of_the_call_is_emulated_with_its_headers(emulated):
    """The complete 1.10 call: each (event, leg role) the emulator makes has all capture names,
    variables included, in the same order (variables compared as a block, values aside)."""
    checked = set()
    for headers in templates.capture_events():
        d = dict(headers)
        name = d["Event-Name"]
        if name in ("CUSTOM", "PRESENCE_IN", "API", "RE_SCHEDULE", "CODEC", "PRIVATE_COMMAND"):
            continue  # registration/presence/internal noise the controller never subscribes to
        key = (name, d.get("Call-Direction"), d.get("Application"))
        if key in checked:
            continue
        checked.add(key)
        ev = pick(emulated, name, d)
        got = [k for k, _ in ev.headers()]
        want = [k for k, _ in headers if not (k.startswith("variable_") and
                                               templates.DYNAMIC.match(k[9:]))]
        skip_vars = name in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE")  # dialplan `set`s differ
        missing = [k for k in want if k not in got and not (skip_vars and k.startswith("variable_"))]
        assert not missing, "%s/%s lacks %s" % (name, d.get("Call-Direction"), missing[:10])
        nonvar = [k for k in dict.fromkeys(want) if not k.startswith("variable_")]
        assert [k for k in dict.fromkeys(got) if k in nonvar] == nonvar, name
    assert {"CHANNEL_ANSWER", "CHANNEL_BRIDGE", "DTMF", "RECORD_START", "RECORD_STOP", "PLAYBACK_START",
            "PLAYBACK_STOP", "CHANNEL_HANGUP_COMPLETE"} <= {k[0] for k in checked}


def test_channel_hangup_complete_repeats_hangup_cause_like_real_fs(emulated):
    ev = pick(emulated, "CHANNEL_HANGUP_COMPLETE", {})
    assert [k for k, _ in ev.headers()].count("Hangup-Cause") == 2
    assert ev.headers()[13][0] == "Hangup-Cause"   # first header after the core block
