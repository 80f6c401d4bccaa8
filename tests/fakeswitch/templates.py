"""Channel-variable baselines taken from a real FreeSWITCH 1.10 call (``data/fs110_call.txt``).

The capture is a vanilla-config user→user call (1000 → user/1001).  For each leg we keep every
``variable_*`` in capture order together with the *phase* in which it first appeared (create,
route, progress, early, answer, bridge, hangup, complete), with call-specific values (uuids,
user numbers, Caller-ID name, SIP Call-IDs, timestamps) turned into placeholders.  A leg of the
emulator applies the phases as its call progresses, so its ``variable_*`` block has the real
names, order and growth.  Variables the emulator computes itself (current application,
playback, recording, timing) are excluded here.
"""
import os
import re
from urllib.parse import unquote

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CAPTURE = os.path.join(DATA_DIR, "fs110_call.txt")
CAPTURES_DIR = os.path.join(DATA_DIR, "captures")

A_UUID = "65eb49ab-6089-4675-9fa0-aecd63c3b0ac"
B_UUID = "9aa47b78-8af6-4a96-9fda-79afa51e63e9"
CORE_UUID = "a50ef520-483a-4c52-bc9b-600ec5934368"

# Values of the capture that belong to that particular call -> placeholder names.
_TOKENS = [
    (A_UUID, "a_uuid"), (B_UUID, "b_uuid"), (CORE_UUID, "core_uuid"),
    ("1-21616@127.0.0.1", "a_call_id"), ("535bf219-6397-1240-3d8b-727b11f29b0d", "b_call_id"),
    ("sipp 1000", "a_cid_name"),
]
_NUM_TOKENS = [(re.compile(r"(?<!\d)1000(?!\d)"), "a_user"), (re.compile(r"(?<!\d)1001(?!\d)"), "b_user"),
               (re.compile(r"(?<!\d)1795627\d{9}(?!\d)"), "now_us"),
               (re.compile(r"(?<!\d)1795627\d{3}(?!\d)"), "now_s")]
_PLACEHOLDER = re.compile("\x01(\\w+)\x01")

# Computed by the emulator, never copied from the capture.
DYNAMIC = re.compile(r"^(current_application.*|current_loop|total_loops|playback_.*|record_(?!stereo).*|"
                     r"last_sent_callee_id_.*|hangup_cause.*|.*_stamp|.*_epoch|.*_uepoch|duration|billsec|"
                     r"progresssec|answersec|waitsec|progress_mediasec|flow_billsec|mduration|billmsec|"
                     r"progressmsec|answermsec|waitmsec|progress_mediamsec|flow_billmsec|uduration|billusec|"
                     r"progressusec|answerusec|waitusec|progress_mediausec|flow_billusec|last_app|last_arg|"
                     r"bridge_.*|last_bridge_.*|sip_hangup_.*|sip_term_.*|proto_specific_hangup_cause|"
                     r"signal_bond|originate_signal_bond|endpoint_disposition|caller_id|digits_dialed)$")

_PHASE_OF_EVENT = {
    "CHANNEL_CREATE": "create", "CHANNEL_OUTGOING": "create", "CHANNEL_ORIGINATE": "create",
    "CHANNEL_EXECUTE": "route", "CHANNEL_EXECUTE_COMPLETE": "route", "CHANNEL_PROGRESS": "progress",
    "CHANNEL_PROGRESS_MEDIA": "early", "CHANNEL_ANSWER": "answer", "CHANNEL_BRIDGE": "bridge",
    "CALL_UPDATE": "bridge", "CHANNEL_HANGUP": "hangup", "CHANNEL_UNBRIDGE": "hangup",
    "CHANNEL_HANGUP_COMPLETE": "complete",
}
PHASES = ("create", "route", "progress", "early", "answer", "bridge", "hangup", "complete")


def iter_frames(data):
    """Yield ``(outer headers dict, body bytes)`` for each frame of a wire dump."""
    i = 0
    while i < len(data):
        j = data.find(b"\n\n", i)
        if j < 0:
            return
        outer = dict(l.split(": ", 1) for l in data[i:j].decode().split("\n") if ": " in l)
        i = j + 2
        body = b""
        if "Content-Length" in outer:
            n = int(outer["Content-Length"])
            body, i = data[i:i + n], i + n
        yield outer, body


def split_event(body):
    """Serialised plain event -> list of ``(name, raw encoded value)`` in wire order."""
    head = body.decode("utf-8", "surrogateescape").split("\n\n", 1)[0]
    return [tuple(l.split(": ", 1)) for l in head.split("\n") if ": " in l]


def capture_events(path=CAPTURE):
    """All plain events of a wire capture as lists of (name, raw value)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return [split_event(body) for outer, body in iter_frames(data)
            if outer.get("Content-Type") == "text/event-plain"]


def _templatize(value):
    for literal, token in _TOKENS:
        value = value.replace(literal, "\x01%s\x01" % token)
    for rx, token in _NUM_TOKENS:
        value = rx.sub("\x01%s\x01" % token, value)
    return value


def fill(template, values):
    """Replace placeholders of a templatised value with ``values[token]``."""
    if "\x01" not in template:
        return template
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def _baseline(uuid):
    out, seen = [], set()
    for headers in capture_events():
        d = dict(headers)
        if d.get("Unique-ID") != uuid:
            continue
        phase = _PHASE_OF_EVENT.get(d.get("Event-Name"))
        if phase is None:
            continue
        for name, raw in headers:
            if not name.startswith("variable_") or name in seen:
                continue
            seen.add(name)
            var = name[len("variable_"):]
            if DYNAMIC.match(var):
                continue
            out.append((var, _templatize(unquote(raw)), phase))
    return out


# (variable, templatised value, phase) in capture order
A_LEG_VARS = _baseline(A_UUID)   # registered user calling (sofia/internal/1000@..., inbound)
B_LEG_VARS = _baseline(B_UUID)   # user/1001 originated by the bridge (outbound)
