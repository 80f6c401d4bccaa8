"""Channel behaviour: what FreeSWITCH does to legs and which events it fires, in its order.

Every function expects ``sw.lock`` to be held by the caller or takes it itself (RLock); the
orders follow ``data/fs110_call.txt`` (create, originate, answer, bridge, record, broadcast,
DTMF, hangup) and ESL_RESEARCH.md §3 where no capture exists.
"""
import logging
import time

from . import audio, media
from . import templates
from .model import new_uuid

log = logging.getLogger(__name__)

CALLSTATE_NUMBERS = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4, "HELD": 5,
                     "RING_WAIT": 6, "HANGUP": 7, "UNHELD": 8}
Q850 = {"NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_USER_RESPONSE": 18, "NO_ANSWER": 19,
        "CALL_REJECTED": 21, "UNALLOCATED_NUMBER": 1, "ORIGINATOR_CANCEL": 487,
        "NORMAL_TEMPORARY_FAILURE": 41, "RECOVERY_ON_TIMER_EXPIRE": 102, "LOSE_RACE": 502,
        "ATTENDED_TRANSFER": 0, "BLIND_TRANSFER": 0, "MANAGER_REQUEST": 503, "SUBSCRIBER_ABSENT": 20}


# -- states -----------------------------------------------------------------------------------
def set_state(sw, leg, state, number=None, profile=True):
    leg.set_state(state, number)
    sw.fire("CHANNEL_STATE", leg, with_profile=profile)


def set_callstate(sw, leg, new):
    old = leg.call_state
    leg.call_state = new
    sw.fire("CHANNEL_CALLSTATE", leg, lead=[("Original-Channel-Call-State", old),
                                            ("Channel-Call-State-Number", CALLSTATE_NUMBERS[new])])


def register(sw, leg):
    with sw.lock:
        sw.legs[leg.uuid] = leg
    return leg


def create_inbound(sw, leg):
    """A call arriving from a phone/gateway: CS_NEW .. CS_EXECUTE (dialplan running)."""
    with sw.lock:
        register(sw, leg)
        if leg.name.startswith("sofia/"):   # mod_sofia, before the SDP answer (1.10 capture, real 1.11 switch)
            leg.set_var("endpoint_disposition", "DELAYED NEGOTIATION")
        leg.set_state("CS_NEW")
        sw.fire("CHANNEL_STATE", leg, with_profile=False)
        set_state(sw, leg, "CS_INIT")
        sw.fire("CHANNEL_CREATE", leg, state_number=2)
        set_callstate(sw, leg, "RINGING")
        set_state(sw, leg, "CS_ROUTING")
        set_state(sw, leg, "CS_EXECUTE")


def execute(sw, leg, app, data, response=None, complete=True):
    """CHANNEL_EXECUTE (+ _COMPLETE) of a dialplan application; returns the Application-UUID."""
    app_uuid = new_uuid()
    with sw.lock:
        leg.set_var("current_application_data", data)
        leg.set_var("current_application", app)
        sw.fire("CHANNEL_EXECUTE", leg, trailers=[("Application", app), ("Application-Data", data),
                                                  ("Application-UUID", app_uuid)])
        if complete:
            execute_complete(sw, leg, app, data, app_uuid, response)
    return app_uuid


def execute_complete(sw, leg, app, data, app_uuid, response=None):
    with sw.lock:
        if response is not None:
            leg.set_var("current_application_response", response)
        sw.fire("CHANNEL_EXECUTE_COMPLETE", leg, trailers=[
            ("Application", app), ("Application-Data", data),
            ("Application-Response", response if response is not None else "_none_"),
            ("Application-UUID", app_uuid)])


def originate(sw, a, b):
    """The bridge application creates ``b`` for ``a`` (CHANNEL_OUTGOING .. CS_CONSUME_MEDIA)."""
    with sw.lock:
        register(sw, b)
        # a fresh A-leg gets its originatee profile when the bridge runs (no Other-Leg-* on its CHANNEL_ANSWER, in
        # the 1.10 capture and on a real 1.11 switch): bridge() sets it; a leg already in a call (att_xfer) switches
        b.other, b.other_type = a, "originator"
        if a.other is not None:
            a.other, a.other_type = b, "originatee"
        b.set_state("CS_INIT")
        sw.fire("CHANNEL_OUTGOING", b)
        set_state(sw, b, "CS_INIT")
        sw.fire("CHANNEL_CREATE", b)
        sw.fire("CHANNEL_ORIGINATE", b)
        set_state(sw, b, "CS_ROUTING")
        set_state(sw, b, "CS_CONSUME_MEDIA")


def ring(sw, b, a=None):
    """180 from the callee; the caller hears ringback as early media (vanilla ``ringback``)."""
    with sw.lock:
        b.stamp("Channel-Progress-Time")
        b.apply_baseline(b.baseline, "progress", b.tokens)
        sw.fire("CHANNEL_PROGRESS", b)
        set_callstate(sw, b, "RINGING")
        if a is not None and a.answer_state == "ringing":
            pre_answer(sw, a)


def pre_answer(sw, leg):
    with sw.lock:
        leg.media = True
        leg.stamp("Channel-Progress-Media-Time")
        leg.answer_state = "early"
        leg.apply_baseline(leg.baseline, "early", leg.tokens)
        if leg.direction == "inbound" and leg.name.startswith("sofia/"):
            leg.set_var("endpoint_disposition", "EARLY MEDIA")
        sw.fire("CHANNEL_PROGRESS_MEDIA", leg)
        set_callstate(sw, leg, "EARLY")


def answer(sw, leg):
    with sw.lock:
        if leg.answered:
            return
        leg.media = True
        leg.answer_state = "answered"
        leg.stamp("Channel-Answered-Time")
        leg.answered_at = sw.clock.now()
        for phase in ("progress", "early", "answer"):
            leg.apply_baseline(leg.baseline, phase, leg.tokens, skip=leg.variables)
        sw.fire("CHANNEL_ANSWER", leg)
        # set after the event: a B-leg's CHANNEL_ANSWER has none, an A-leg's still shows EARLY MEDIA (real switch)
        leg.set_var("endpoint_disposition", "ANSWER")
        set_callstate(sw, leg, "ACTIVE")
        # the 200 OK's dialog state lands right after the answer (first seen at BRIDGE in the capture)
        for var, tmpl, _ in leg.baseline:
            if var in ("sip_to_tag", "sip_cseq") and var not in leg.variables:
                leg.set_var(var, templates.fill(tmpl, leg.tokens))


def bridge(sw, a, b, event_leg=None):
    """Bridge two answered legs; CHANNEL_BRIDGE once, on ``event_leg`` (default the A-leg)."""
    with sw.lock:
        ev_leg = event_leg or a
        other = b if ev_leg is a else a
        a.bridged_to, b.bridged_to = b, a
        if a.other is None:
            a.other, a.other_type = b, "originatee"
        if b.other is None:
            b.other, b.other_type = a, "originator"
        for leg in (a, b):
            leg.stamp("Channel-Bridged-Time")
            leg.apply_baseline(leg.baseline, "bridge", leg.tokens, skip=leg.variables)
        other.set_var("call_uuid", ev_leg.uuid)
        for leg, peer in ((a, b), (b, a)):
            leg.set_var("signal_bond", peer.uuid)
        sw.fire("CHANNEL_BRIDGE", ev_leg, lead=[("Bridge-A-Unique-ID", ev_leg.uuid),
                                                ("Bridge-B-Unique-ID", other.uuid)])
        # the bridge thread sets these once it runs: not on CHANNEL_BRIDGE yet (capture and real switch)
        for leg, peer in ((a, b), (b, a)):
            leg.set_vars([("bridge_to", peer.uuid), ("last_bridge_to", peer.uuid),
                          ("bridge_channel", peer.name), ("bridge_uuid", peer.uuid)])
        if other.state != "CS_EXCHANGE_MEDIA":
            set_state(sw, other, "CS_EXCHANGE_MEDIA")
        for leg, peer in ((other, ev_leg), (ev_leg, other)):
            sw.fire("CALL_UPDATE", leg, lead=[
                ("Direction", "SEND"), ("Sent-Callee-ID-Name", peer.profile.get("Caller-ID-Name", "")),
                ("Sent-Callee-ID-Number", peer.profile.get("Caller-ID-Number", "")), ("Bridged-To", peer.uuid)])


def unbridge(sw, a, b, event_leg=None):
    with sw.lock:
        ev_leg = event_leg or a
        other = b if ev_leg is a else a
        sw.fire("CHANNEL_UNBRIDGE", ev_leg, lead=[("Bridge-A-Unique-ID", ev_leg.uuid),
                                                  ("Bridge-B-Unique-ID", other.uuid)])
        a.bridged_to = b.bridged_to = None
        if other.get_var("call_uuid") == ev_leg.uuid:
            other.set_var("call_uuid", other.uuid)


def dtmf(sw, leg, digits, source="RTP"):
    """One DTMF event per digit, only on ``leg`` (FreeSWITCH forwards it to the peer silently)."""
    with sw.lock:
        for d in digits:
            sw.fire("DTMF", leg, trailers=[("DTMF-Digit", d), ("DTMF-Duration", leg.dtmf_duration),
                                           ("DTMF-Source", source)])


# -- hangup -------------------------------------------------------------------------------------
def _hangup_vars(sw, leg, cause):
    now = sw.clock.now()
    created = leg.created_us / 1e6
    answered = getattr(leg, "answered_at", None)
    leg.set_var("hangup_cause", cause)
    leg.set_var("hangup_cause_q850", Q850.get(cause, 16))

    def stamp(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""
    leg.set_vars([("start_stamp", stamp(created)), ("answer_stamp", stamp(answered)),
                  ("end_stamp", stamp(now)), ("start_epoch", int(created)),
                  ("start_uepoch", leg.created_us), ("answer_epoch", int(answered or 0)),
                  ("answer_uepoch", int((answered or 0) * 1e6)), ("end_epoch", int(now)),
                  ("end_uepoch", int(now * 1e6)), ("duration", int(now - created)),
                  ("billsec", int(now - answered) if answered else 0),
                  ("mduration", int((now - created) * 1000)),
                  ("billmsec", int((now - answered) * 1000) if answered else 0)])


def hangup(sw, leg, cause="NORMAL_CLEARING", peer_cause="NORMAL_CLEARING", peer=True):
    """Hang ``leg`` up; its bridged peer follows (hangup_after_bridge).

    Order as in the real 1.10 capture: HANGUP (leg), HANGUP (peer); B side CS_HANGUP; on the A
    side UNBRIDGE + the bridge's EXECUTE_COMPLETE, CS_HANGUP; each leg's RECORD_STOPs right after
    its CS_HANGUP; then B, then A: CS_REPORTING, HANGUP_COMPLETE, DESTROY, CS_DESTROY.
    """
    with sw.lock:
        if not leg.alive:
            return
        other = leg.bridged_to if peer else None
        legs = [leg] + ([other] if other is not None and other.alive else [])
        causes = [cause, peer_cause]
        for l, c in zip(legs, causes):
            l.alive = False
            l.hangup_cause = c
            l.answer_state = "hangup"
            l.stamp("Channel-Hangup-Time")
            l.state_number = 10
            l.playback_queue = []            # queued broadcasts are dropped without events
            if l.playback is not None:
                _finish_playback(sw, l, status="break")
            l.displaces, l.displace_names = [], {}   # displace bugs close silently
            l.set_vars([("sip_hangup_disposition", "recv_bye" if l is leg else "send_bye"),
                        ("sip_term_status", "200"), ("sip_term_cause", "16")])
            sw.fire("CHANNEL_HANGUP", l)
        a = b = None
        if other is not None:
            a = leg if leg.bridge_side == "a" else other
            b = other if a is leg else leg
            for l in legs:
                l.set_var("last_bridge_role", "originator" if l is a else "originatee")
        order = [b, a] if a is not None else legs   # the originated side finishes first
        for l in order:
            if l is a:
                # the peer's bridge ends before its own hangup: no Hangup-Cause on its UNBRIDGE (real switch)
                cause_now = a.hangup_cause
                if a is not leg:
                    a.hangup_cause = None
                unbridge(sw, a, b)
                a.hangup_cause = cause_now
                if a.dialplan_bridge:
                    execute_complete(sw, a, "bridge", a.dialplan_bridge[0], a.dialplan_bridge[1])
                    a.dialplan_bridge = None
            set_state(sw, l, "CS_HANGUP")
            set_callstate(sw, l, "HANGUP")
            for path in list(l.recordings):   # media bugs close in the hangup state
                record_stop(sw, l, path)
            running = getattr(l, "running_app", None)
            if running is not None:           # an application that kept the channel returns now
                l.running_app = None
                app, data, app_uuid, on_end = running
                if on_end is not None:
                    on_end()
                execute_complete(sw, l, app, data, app_uuid)
        for l in order:
            _hangup_vars(sw, l, l.hangup_cause)
            l.apply_baseline(l.baseline, "hangup", l.tokens, skip=l.variables)
            l.apply_baseline(l.baseline, "complete", l.tokens, skip=l.variables)
            set_state(sw, l, "CS_REPORTING")
            sw.fire("CHANNEL_HANGUP_COMPLETE", l, lead=[("Hangup-Cause", l.hangup_cause)])
            sw.fire("CHANNEL_DESTROY", l)
            set_state(sw, l, "CS_DESTROY")
            sw.legs.pop(l.uuid, None)
            sw.session_gone(l)
        owners = []
        for l in order:
            if l.owner is not None and l.owner not in owners and l.owner.ended:
                owners.append(l.owner)
        for call in owners:
            sw._call_ended(call)


# -- recording ------------------------------------------------------------------------------
def record_start(sw, leg, path, limit=0, rec_vars=None):
    with sw.lock:
        if path in leg.recordings:
            return  # "Already recording": +OK and nothing else (switch_ivr_async.c l.2962)
        if leg.answer_state == "ringing":
            pre_answer(sw, leg)  # uuid_record pre-answers an unanswered inbound leg
        rec = media.Recording(leg, path, limit, rec_vars)
        leg.recordings[path] = rec
        extra = [("Recording-Variable-%s" % k, v) for k, v in rec.rec_vars.items()]
        sw.fire("RECORD_START", leg, trailers=[("Record-File-Path", path)] + extra)
        sw.fire("MEDIA_BUG_START", leg, lead=[("Media-Bug-Function", "session_record"),
                                              ("Media-Bug-Target", path)])


def record_stop(sw, leg, path):
    with sw.lock:
        rec = leg.recordings.pop(path, None)
        if rec is None:
            return False
        rec.flush()
        leg.set_vars(rec.stop_vars())
        extra = [("Recording-Variable-%s" % k, v) for k, v in rec.rec_vars.items()]
        sw.fire("RECORD_STOP", leg, trailers=[("Record-File-Path", path)] + extra +
                [("Record-Completion-Cause", "success-maxtime")])
        sw.fire("MEDIA_BUG_STOP", leg, lead=[("Media-Bug-Function", "session_record"),
                                             ("Media-Bug-Target", path)])
        return True


# -- playback ------------------------------------------------------------------------------
def broadcast(sw, leg, path, targets):
    """Queue a playback on each target leg: EXECUTE, then PLAYBACK_START (or FILE NOT FOUND).

    A target already playing a file keeps it: the new broadcast waits and plays after it (two
    ``uuid_broadcast ... both`` to the two legs of one bridge play one after the other to both
    parties, as seen on real calls); hold music is broken by it."""
    with sw.lock:
        for t in targets:
            if t.playback is not None and t.playback.samples is not None:
                t.playback_queue.append(path)
                continue
            _start_playback(sw, t, path)


def _start_playback(sw, t, path):
    found = media.resolve_sound(path, t.rate)
    app_uuid = execute(sw, t, "playback", path, complete=False)
    t.set_vars([("current_loop", "1"), ("total_loops", "1")])
    if found is None:
        log.info("broadcast: %s not found", path)
        t.set_var("current_application_response", "FILE NOT FOUND")
        execute_complete(sw, t, "playback", path, app_uuid, "FILE NOT FOUND")
        return False
    samples, _ = audio.load_mono(found, t.rate)
    if t.playback is not None:
        _finish_playback(sw, t, status="break", next_queued=False)
    t.playback = media.Playback(t, path, samples, app_uuid)
    t.playback.order = sw.next_seq()
    t.playback.file = found
    sw.fire("PLAYBACK_START", t, trailers=[("Playback-File-Path", found)])
    return True


def _finish_playback(sw, leg, status="done", next_queued=True):
    pb = leg.playback
    leg.playback = None
    ms = pb.pos * 1000 // leg.rate
    leg.set_vars([("playback_last_offset_pos", pb.pos), ("playback_seconds", ms // 1000),
                  ("playback_ms", ms), ("playback_samples", pb.pos)])
    sw.fire("PLAYBACK_STOP", leg, trailers=[("Playback-File-Path", pb.file), ("Playback-Status", status)])
    response = "FILE PLAYED" if status == "done" else "PLAYBACK ERROR" if status == "error" else "FILE PLAYED"
    execute_complete(sw, leg, "playback", pb.path, pb.app_uuid, response)
    while next_queued and leg.alive and leg.playback is None and leg.playback_queue:
        _start_playback(sw, leg, leg.playback_queue.pop(0))


# -- displace (uuid_displace: a media bug, no events) -------------------------------------------
DISPLACE_ERR = "-ERR Cannot displace session!\n"


def displace_start(sw, leg, path, limit=0, flags=""):
    """switch_ivr_displace_session: -> None on success, else FreeSWITCH's api error line."""
    with sw.lock:
        if not leg.answered and leg.answer_state == "ringing" and leg.direction == "inbound":
            pre_answer(sw, leg)             # switch_channel_pre_answer (outbound: nothing)
        if not leg.media:
            log.info("displace: media not enabled on %s", leg.uuid)   # "Can not displace session."
            return DISPLACE_ERR
        if path in leg.displace_names:      # checked with the name as given, before the prefix
            log.info("displace: only 1 of the same file per channel please! (%s)", path)
            return DISPLACE_ERR
        key = path
        if "://" not in key:
            if not key.startswith("/"):
                prefix = leg.get_var("sound_prefix") or sw.base_dir
                key = prefix.rstrip("/") + "/" + key
            if "." not in key:              # strrchr(file, '.'): the codec's name as extension
                key = "%s.%s" % (key, leg.codec)
        found = media.resolve_sound(key, leg.rate)
        if found is None:
            log.info("displace: cannot open %s", key)
            flag = str(leg.get_var("DISPLACE_HANGUP_ON_ERROR") or "").lower()
            if flag in ("true", "yes", "on", "1"):
                hangup(sw, leg, "DESTINATION_OUT_OF_ORDER")
            return DISPLACE_ERR
        samples, _ = audio.load_mono(found, leg.rate)
        d = media.Displace(leg, key, found, samples, limit, flags)
        leg.displaces.append(d)
        leg.displace_names[key] = d
        return None


def displace_stop(sw, leg, path):
    """switch_ivr_stop_displace_session: finds the bug by the name as given; True if removed."""
    with sw.lock:
        d = leg.displace_names.pop(path, None)
        if d is None:
            return False
        if d in leg.displaces:
            leg.displaces.remove(d)
        return True


def _end_displaces(leg):
    """Remove the bugs whose file (or limit) ended; the CLOSE callback clears their name."""
    for d in [d for d in leg.displaces if d.done]:
        leg.displaces.remove(d)
        leg.displace_names.pop(d.key, None)


# -- time ----------------------------------------------------------------------------------
def advance(sw, seconds):
    """Advance the media clock ``seconds`` (virtual): see media.py for what is recorded."""
    remaining = float(seconds)
    touched = set()
    while remaining > 1e-9:
        with sw.lock:
            legs = [l for l in sw.legs.values() if l.alive and l.media]
            # only legs being recorded, playing or displaced need their streams; the others just move on
            busy = [l for l in legs if l.recordings or l.playback is not None or l.displaces]
            step = remaining
            for l in busy:
                if l.playback is not None and l.playback.samples is not None:
                    step = min(step, l.playback.left / l.rate)
                for r in l.recordings.values():
                    left = r.remaining()
                    if left is not None:
                        step = min(step, left / r.rate)
                for d in l.displaces:            # a bug ending changes the streams from then on
                    left = d.left
                    if left is not None:
                        step = min(step, left / l.rate)
            step = max(step, 0.001)
            ops = {l: media.read_ops(l, int(round(step * l.rate))) for l in busy if l.displaces}
            for l in legs:
                n = int(round(step * l.rate))
                if l.recordings or l.playback is not None or l.displaces:
                    read, write = media.leg_streams(l, n, ops)
                    for r, rd, wr in media.write_bugs(l, read, write):
                        r.feed(media.at_rate(rd, l.rate, r.rate), media.at_rate(wr, l.rate, r.rate))
                        touched.add(r)
                l.media_pos += n
            sw.clock.advance(step)
            remaining -= step
            for l in busy:
                if l.displaces:
                    _end_displaces(l)
            done = sorted((l for l in busy if l.playback is not None and l.playback.left <= 0),
                          key=lambda l: l.playback.order)
            for l in done:
                _finish_playback(sw, l)
            for l in busy:
                for r in list(l.recordings.values()):
                    if r.remaining() == 0:
                        record_stop(sw, l, r.path)
    if sw.flush_on_advance:
        with sw.lock:
            for r in touched:
                if r.path in r.leg.recordings:
                    r.flush()
