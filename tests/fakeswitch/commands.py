"""API commands (``api``/``bgapi``) with FreeSWITCH's exact output strings (mod_commands.c).

``execute(sw, line, conn)`` runs with ``sw.lock`` held and returns the api/response body.
Unknown commands answer ``-ERR <cmd> Command not found!\\n``.
"""
import json
import logging
import time

from . import actions, dialplan
from .encoding import parse_plain

log = logging.getLogger(__name__)

REC_USAGE = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
NO_CHANNEL = "-ERR No such channel!\n"
DISPLACE_USAGE = "-USAGE: <uuid> [start|stop] <path> [<limit>] [mux]\n"   # DISPLACE_SYNTAX
DISPLACE_STOP_ERR = "-ERR Cannot stop displace session!\n"
_HANDLERS = {}


def command(name):
    def deco(fn):
        _HANDLERS[name] = fn
        return fn
    return deco


def execute(sw, line, conn=None):
    """Run one api command; never raises (a command about an unknown or hung-up uuid gets
    FreeSWITCH's error for it, and an emulator bug is logged and answered ``-ERR``, so the
    connection's reader thread keeps serving)."""
    name, _, args = line.strip().partition(" ")
    fn = _HANDLERS.get(name)
    if fn is None:
        return "-ERR %s Command not found!\n" % name
    try:
        out = fn(sw, args.strip())
    except Exception:  # noqa: BLE001 - see docstring
        log.exception("api %r failed in the emulator", line[:200])
        return error_for(line)
    return out if out else "-ERR no reply\n"


def error_for(line):
    """The error FreeSWITCH would give when ``line`` fails (used by fail_next_command)."""
    words = line.split()
    name = words[0] if words else ""
    if name == "uuid_displace" and len(words) > 2 and words[2].lower() == "stop":
        return DISPLACE_STOP_ERR
    return {"uuid_record": "-ERR Cannot record session!\n",
            "uuid_broadcast": "-ERR invalid uuid\n",
            "uuid_displace": actions.DISPLACE_ERR}.get(name, NO_CHANNEL)


def _leg(sw, uid):
    leg = sw.legs.get(uid)
    return leg if leg is not None and leg.alive else None


def parse_rec_vars(text):
    """``{k=v,k2=v2}`` (URL-decoded first) -> dict."""
    from urllib.parse import unquote

    text = unquote(text).strip()
    if not (text.startswith("{") and text.endswith("}")):
        return {}
    out = {}
    for pair in text[1:-1].split(","):
        k, _, v = pair.partition("=")
        if k:
            out[k.strip()] = v
    return out


@command("uuid_record")
def uuid_record(sw, args):
    a = args.split()
    if len(a) < 3:
        return REC_USAGE
    uid, action, path = a[0], a[1].lower(), a[2]
    leg = _leg(sw, uid)
    if leg is None:
        return "-ERR Cannot locate session!\n"
    if action == "start":
        limit = int(a[3]) if len(a) > 3 and a[3].isdigit() else 0
        rec_vars = parse_rec_vars(a[4]) if len(a) > 4 else {}
        if not leg.media and not (leg.direction == "inbound" and leg.answer_state == "ringing"):
            # needs media: an inbound leg is pre-answered, a ringing outbound one cannot be
            return "-ERR Cannot record session!\n"
        actions.record_start(sw, leg, path, limit, rec_vars)
        return "+OK Success\n"
    if action == "stop":
        if path == "all":
            if not leg.recordings:
                return "-ERR Cannot stop record session!\n"
            for p in list(leg.recordings):
                actions.record_stop(sw, leg, p)
            return "+OK Success\n"
        if not actions.record_stop(sw, leg, path):
            return "-ERR Cannot stop record session!\n"
        return "+OK Success\n"
    if action in ("mask", "unmask"):
        rec = leg.recordings.get(path)
        if rec is None:
            return "-ERR Cannot %s recording session!\n" % action
        rec.masked = action == "mask"
        return "+OK Success\n"
    return REC_USAGE


@command("uuid_broadcast")
def uuid_broadcast(sw, args):
    a = args.split()
    if len(a) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    leg = _leg(sw, a[0])
    if leg is None:
        return "-ERR invalid uuid\n"
    flags = a[2].lower() if len(a) > 2 else "aleg"
    peer = leg.bridged_to
    if flags == "both":
        targets = ([peer] if peer is not None else []) + [leg]   # partner first, as captured
    elif flags == "bleg":
        if peer is None:
            return "-ERR invalid uuid\n"
        targets = [peer]
    else:
        targets = [leg]
    what = a[1]
    if "::" in what:                      # app::args (app!cause::args)
        app, _, app_args = what.partition("::")
        app = app.split("!", 1)[0]
        if app != "playback":
            for t in targets:
                actions.execute(sw, t, app, app_args)
            return "+OK Message sent\n"
        what = app_args
    actions.broadcast(sw, leg, what, targets)
    return "+OK Message sent\n"


def _atoi(text):
    """C atoi: leading sign and digits, 0 if none."""
    text = (text or "").strip()
    sign, i = 1, 0
    if text[:1] in "+-" and text:
        sign, i = (-1 if text[0] == "-" else 1), 1
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return sign * int(text[i:j]) if j > i else 0


@command("uuid_displace")
def uuid_displace(sw, args):
    """session_displace_function (mod_commands.c): ``<uuid> start|stop <file> [limit] [flags]``.
    A media bug: no event at all, on success nor on failure."""
    a = args.split(None, 4)
    if len(a) < 3:
        return DISPLACE_USAGE
    uid, action, path = a[0], a[1].lower(), a[2]
    leg = _leg(sw, uid)
    if leg is None:
        return "-ERR Cannot locate session!\n"
    if action == "start":
        limit = max(0, _atoi(a[3])) if len(a) > 3 else 0
        flags = a[4] if len(a) > 4 else ""
        err = actions.displace_start(sw, leg, path, limit, flags)
        return err or "+OK Success\n"
    if action == "stop":
        return "+OK Success\n" if actions.displace_stop(sw, leg, path) else DISPLACE_STOP_ERR
    return DISPLACE_USAGE


@command("uuid_setvar")
def uuid_setvar(sw, args):
    a = args.split(" ", 2)
    if len(a) < 2:
        return "-USAGE: <uuid> <var> [value]\n"
    leg = _leg(sw, a[0])
    if leg is None:
        return NO_CHANNEL
    leg.set_var(a[1], a[2] if len(a) > 2 else None)
    return "+OK\n"


@command("uuid_setvar_multi")
def uuid_setvar_multi(sw, args):
    uid, _, rest = args.partition(" ")
    leg = _leg(sw, uid)
    if leg is None:
        return NO_CHANNEL
    for pair in rest.split(";"):
        k, _, v = pair.partition("=")
        if k:
            leg.set_var(k, v or None)
    return "+OK\n"


@command("uuid_getvar")
def uuid_getvar(sw, args):
    a = args.split()
    if len(a) < 2:
        return "-USAGE: <uuid> <var>\n"
    leg = _leg(sw, a[0])
    if leg is None:
        return NO_CHANNEL
    return leg.get_var(a[1], "_undef_")


@command("uuid_exists")
def uuid_exists(sw, args):
    return "true" if _leg(sw, args.split()[0] if args else "") else "false"


@command("uuid_kill")
def uuid_kill(sw, args):
    a = args.split()
    leg = _leg(sw, a[0]) if a else None
    if leg is None:
        return NO_CHANNEL
    cause = a[1] if len(a) > 1 else "NORMAL_CLEARING"
    actions.hangup(sw, leg, cause)
    return "+OK\n"


def _dump_event(sw, leg):
    return sw.renderer.channel_event("CHANNEL_DATA", leg, sw.next_seq(), with_vars=True)


@command("uuid_dump")
def uuid_dump(sw, args):
    a = args.split()
    leg = _leg(sw, a[0]) if a else None
    if leg is None:
        return NO_CHANNEL
    headers, _ = parse_plain(_dump_event(sw, leg).text)
    fmt = a[1].lower() if len(a) > 1 else "txt"
    if fmt == "json":
        return json.dumps(dict(headers), separators=(",", ":"), ensure_ascii=False)
    return "".join("%s: %s\n" % kv for kv in headers) + "\n"


def _channel_row(sw, leg):
    p = leg.profile
    return {
        "uuid": leg.uuid, "direction": leg.direction,
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(leg.created_us / 1e6)),
        "created_epoch": str(leg.created_us // 1_000_000), "name": leg.name, "state": leg.state,
        "cid_name": p.get("Caller-ID-Name", ""), "cid_num": p.get("Caller-ID-Number", ""),
        "ip_addr": p.get("Network-Addr", ""), "dest": p.get("Destination-Number", ""),
        "application": leg.get_var("current_application", ""),
        "application_data": leg.get_var("current_application_data", ""), "dialplan": "XML",
        "context": p.get("Context", ""), "read_codec": leg.codec if leg.media else "",
        "read_rate": str(leg.rate) if leg.media else "", "read_bit_rate": "64000" if leg.media else "",
        "write_codec": leg.codec if leg.media else "", "write_rate": str(leg.rate) if leg.media else "",
        "write_bit_rate": "64000" if leg.media else "", "secure": "", "hostname": sw.hostname,
        "presence_id": leg.presence_id or "", "presence_data": "",
        "accountcode": leg.get_var("accountcode", ""), "callstate": leg.call_state,
        "callee_name": p.get("Callee-ID-Name", ""), "callee_num": p.get("Callee-ID-Number", ""),
        "callee_direction": "", "call_uuid": leg.call_uuid, "sent_callee_name": "",
        "sent_callee_num": "", "initial_cid_name": p.get("Orig-Caller-ID-Name", ""),
        "initial_cid_num": p.get("Orig-Caller-ID-Number", ""), "initial_ip_addr": p.get("Network-Addr", ""),
        "initial_dest": p.get("Destination-Number", ""), "initial_dialplan": "XML",
        "initial_context": p.get("Context", ""),
    }


def _rows(rows):
    if not rows:
        return '{"row_count": 0}\n'
    return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"), ensure_ascii=False)


@command("show")
def show(sw, args):
    words = args.split()
    what = words[0].lower() if words else ""
    as_json = "json" in [w.lower() for w in words[1:]]
    legs = sorted((l for l in sw.legs.values() if l.alive), key=lambda l: l.created_us)
    if what == "channels":
        rows = [_channel_row(sw, l) for l in legs]
    elif what == "calls":
        rows, seen = [], set()
        for l in legs:
            if l.uuid in seen:
                continue
            row = _channel_row(sw, l)
            b = l.bridged_to
            if b is not None and l.bridge_side == "a":
                seen.add(b.uuid)
                row.update({"b_" + k: v for k, v in _channel_row(sw, b).items()})
            elif b is not None:
                continue  # shown with its A side
            row["call_created_epoch"] = row["created_epoch"]
            rows.append(row)
            seen.add(l.uuid)
    else:
        return "-USAGE: show channels|calls [as json]\n"
    if as_json:
        return _rows(rows)
    if not rows:
        return "\n0 total.\n\n"
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(r.get(c, "") for c in cols) for r in rows]
    return "\n".join(lines) + "\n\n%d total.\n\n" % len(rows)


@command("uuid_transfer")
def uuid_transfer(sw, args):
    a = args.split()
    leg = _leg(sw, a[0]) if a else None
    if leg is None:
        return NO_CHANNEL
    rest = a[1:]
    mode = None
    if rest and rest[0] in ("-bleg", "-both"):
        mode = rest.pop(0)
    if not rest:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    target = leg.bridged_to if mode == "-bleg" and leg.bridged_to is not None else leg
    dialplan.dialplan_transfer(sw, target, rest[0], context=rest[2] if len(rest) > 2 else "default")
    return "+OK\n"


@command("uuid_bridge")
def uuid_bridge(sw, args):
    a = args.split()
    if len(a) < 2 or _leg(sw, a[0]) is None or _leg(sw, a[1]) is None:
        return "-ERR Invalid uuid\n"
    x, y = sw.legs[a[0]], sw.legs[a[1]]
    x.bridge_side, y.bridge_side = "a", "b"
    actions.bridge(sw, x, y)
    return "+OK %s\n" % y.uuid


@command("status")
def status(sw, args):
    up = int(time.time() - sw.started_at)
    return ("UP 0 years, 0 days, 0 hours, %d minutes, %d seconds, 0 milliseconds, 0 microseconds\n"
            "FreeSWITCH (Version 1.10.12 -release 64bit) is ready\n"
            "%d session(s) since startup\n%d session(s) - peak %d, last 5min %d\n"
            "0 session(s) per Sec out of max 30, peak 0, last 5min 0\n1000 session(s) max\n"
            "min idle cpu 0.00/99.00\nCurrent Stack Size/Max 240K/8192K\n"
            % (up // 60, up % 60, len(sw.legs), len(sw.legs), len(sw.legs), len(sw.legs)))


@command("version")
def version(sw, args):
    return "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n"


@command("reloadxml")
def reloadxml(sw, args):
    return "+OK [Success]\n"


@command("global_getvar")
def global_getvar(sw, args):
    known = {"sounds_dir": sw.sounds_dir or "/usr/share/freeswitch/sounds",
             "recordings_dir": sw.recordings_dir or "/var/lib/freeswitch/recordings",
             "domain": sw.domain, "hostname": sw.hostname, "core_uuid": sw.core_uuid}
    return known.get(args.strip(), "")


@command("hupall")
def hupall(sw, args):
    cause = args.split()[0] if args else "MANAGER_REQUEST"
    for leg in [l for l in sw.legs.values() if l.alive and l.bridge_side != "b"]:
        actions.hangup(sw, leg, cause)
    return "+OK hangup all channels with cause %s\n" % cause
