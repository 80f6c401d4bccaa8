"""Wire encoding of the FreeSWITCH Event Socket: URL-encoding, event serialisation, framing.

Everything here mirrors ``switch_event_serialize`` / ``switch_url_encode_opt`` and the frame
writers of ``mod_event_socket.c`` (see ESL_RESEARCH.md §1).  Pure functions, no I/O.
"""
import functools
import json
import re

# switch_utils.h SWITCH_URL_UNSAFE; controls and bytes > '~' are encoded too.
_UNSAFE = set(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = set(b"0123456789abcdefABCDEF")
_SAFE_RE = re.compile(r"[A-Za-z0-9/,.\-_~*'()!$]*\Z")

DISCONNECT_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTDOWN_NOTICE = "The system is being shut down.\n"
LOST_EVENTS_NOTICE = "killed listener because of lost events\n"


@functools.lru_cache(maxsize=1 << 16)  # values repeat across calls: templates, names, numbers
def url_encode(value):
    """URL-encode like FreeSWITCH: its unsafe set, uppercase hex, no double encoding.

    An existing ``%XX`` sequence passes through unchanged (``double_encode=FALSE``), which is
    why a hostile ``%0A`` in a Caller-ID name reaches the client as a literal newline once the
    client decodes it.
    """
    if _SAFE_RE.match(value):
        return value  # fast path: most values need nothing
    raw = value.encode("utf-8", "surrogateescape")
    out = []
    n = len(raw)
    for i, b in enumerate(raw):
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            out.append("%")
        elif b < 0x20 or b > 0x7E or b in _UNSAFE:
            out.append("%%%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def header_line(name, value):
    """One serialised ``Name: value\\n`` line; empty values become ``_undef_``."""
    if value is None or value == "":
        return "%s: _undef_\n" % name
    return "%s: %s\n" % (name, url_encode(str(value)))


def serialize_plain(headers, body=None):
    """Serialise ``[(name, value), ...]`` (repeats allowed) plus optional body as FreeSWITCH does."""
    text = "".join(header_line(k, v) for k, v in headers)
    return finish_plain(text, body)


def finish_plain(header_text, body=None):
    """Close a block of already-encoded header lines: blank line, or inner Content-Length + body."""
    if body is None:
        return header_text + "\n"
    return "%sContent-Length: %d\n\n%s" % (header_text, len(body.encode("utf-8")), body)


def serialize_json(headers, body=None):
    """``cJSON_PrintUnformatted`` form: values not encoded, repeated headers become arrays."""
    obj = {}
    for k, v in headers:
        v = "" if v is None else str(v)
        if k in obj:
            obj[k] = (obj[k] if isinstance(obj[k], list) else [obj[k]]) + [v]
        else:
            obj[k] = v
    if body is not None:
        obj["Content-Length"] = str(len(body.encode("utf-8")))
        obj["_body"] = body
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event_frame(serialized, content_type="text/event-plain"):
    """Outer frame of an event: Content-Length FIRST, then Content-Type (mod_event_socket l.1449)."""
    data = serialized.encode("utf-8", "surrogateescape")
    return b"Content-Length: %d\nContent-Type: %s\n\n" % (len(data), content_type.encode()) + data


def command_reply(text, extra=()):
    """``command/reply`` frame; ``extra`` adds headers such as ``Job-UUID``."""
    lines = ["Content-Type: command/reply", "Reply-Text: %s" % text]
    lines += ["%s: %s" % kv for kv in extra]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def api_response(body):
    data = body.encode("utf-8", "surrogateescape")
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def disconnect_notice(text=DISCONNECT_GOODBYE):
    data = text.encode("utf-8")
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(data) + data


AUTH_REQUEST = b"Content-Type: auth/request\n\n"
RUDE_REJECTION = (b"Content-Type: text/rude-rejection\nContent-Length: 24\n\n"
                  b"Access Denied, go away.\n")


def parse_plain(data):
    """Parse one serialised plain event into ``([(name, decoded value)], body)``.

    Decodes each value *after* splitting lines (the safe way); used by the emulator's own
    tests and by clients that want to see exactly what went over the wire.
    """
    from urllib.parse import unquote

    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    head, _, rest = data.partition("\n\n")
    headers = []
    for line in head.split("\n"):
        if not line:
            continue
        name, _, value = line.partition(": ")
        headers.append((name, unquote(value, errors="surrogateescape")))
    body = None
    for name, value in headers:
        if name == "Content-Length":
            body = rest[: int(value)]
    return headers, body
