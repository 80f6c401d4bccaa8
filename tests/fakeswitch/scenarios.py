"""Scenario API: ``Call`` and ``Consult``, the scripted behaviours of a call.

``Call`` objects are returned by ``FakeSwitch.call_*`` (built by :mod:`dialplan`); their methods
advance the call and fire the events a real 1.10 fires.  Legs: ``call.a`` (the caller's
channel, the bridge's A side) and ``call.b`` (the originated one).  ``side`` arguments accept
"a"/"b" or a Leg.
"""
import logging
import os
import time

from . import actions, dialplan, media
from .model import Leg, new_uuid

log = logging.getLogger(__name__)
MOH_FREQ = 2100   # hold music stands in as a tone no party uses (parties: 300..1900 Hz)


def _leg_of(call, side):
    if isinstance(side, Leg):
        return side
    return {"a": call.a, "b": call.b}[side]


class Call:
    """A call between two parties; see module docstring."""

    def __init__(self, sw, a, b=None, kind="user_to_user"):
        self.sw = sw
        self.a = a
        self.b = b
        self.kind = kind
        a.owner = self
        if b is not None:
            b.owner = self
        with sw.lock:
            sw._call_added(self)

    @property
    def ended(self):
        """Every leg of the call is gone (hung up)."""
        return not any(isinstance(v, Leg) and v.alive for v in vars(self).values())

    # -- progress --------------------------------------------------------------------------------
    def ring(self):
        """The callee's phone rings (180); the caller gets ringback early media."""
        actions.ring(self.sw, self.b, self.a)
        return self

    def answer(self):
        """The callee answers: CHANNEL_ANSWER on B then A, CHANNEL_BRIDGE on A."""
        sw = self.sw
        with sw.lock:
            if self.b.profile.get("Channel-Progress-Time", "0") == "0":
                actions.ring(sw, self.b, self.a)
            actions.answer(sw, self.b)
            # the originator learns the callee's identity from the answer (Caller-Callee-ID-*)
            self.a.set_profile(**{"Callee-ID-Name": self.b.profile.get("Callee-ID-Name", ""),
                                  "Callee-ID-Number": self.b.profile.get("Callee-ID-Number", "")})
            actions.answer(sw, self.a)
            self.a.bridge_side, self.b.bridge_side = "a", "b"
            actions.bridge(sw, self.a, self.b)
        return self

    def talk(self, seconds=1.0, who="both"):
        """Both parties (or ``who`` = "a"/"b"/"none") speak for ``seconds`` of virtual time."""
        self.a.talking = who in ("both", "a")
        if self.b is not None:
            self.b.talking = who in ("both", "b")
        try:
            self.sw.advance(seconds)
        finally:
            self.a.talking = False
            if self.b is not None:
                self.b.talking = False
        return self

    def wait(self, seconds):
        """Advance virtual time in silence."""
        self.sw.advance(seconds)
        return self

    def dtmf(self, side, digits, source="RTP"):
        """RFC 2833 digits from ``side``'s phone: one DTMF event per digit on that leg only."""
        actions.dtmf(self.sw, _leg_of(self, side), digits, source)
        return self

    def hangup(self, side="a", cause="NORMAL_CLEARING"):
        """``side`` hangs up with ``cause``; the bridged peer follows with NORMAL_CLEARING."""
        actions.hangup(self.sw, _leg_of(self, side), cause)
        return self

    def cancel(self, cause="ORIGINATOR_CANCEL"):
        """The caller gives up before an answer: B gets ORIGINATOR_CANCEL, A hangs up."""
        with self.sw.lock:
            if self.b is not None and self.b.alive:
                actions.hangup(self.sw, self.b, cause, peer=False)
            actions.hangup(self.sw, self.a, cause)
        return self

    @property
    def legs(self):
        return [l for l in (self.a, self.b) if l is not None]

    # -- stock dialplan behaviours ------------------------------------------------------------
    def no_answer_to_voicemail(self, message_seconds=3.0):
        """Nobody answers within call_timeout: vanilla answers the caller itself, then bridges it
        to ``loopback/app=voicemail:default <domain> <ext>``; the caller leaves a message.
        Returns the loopback B leg (``call.b`` becomes it)."""
        sw = self.sw
        a, b = self.a, self.b
        ext = a.profile["Destination-Number"]
        with sw.lock:
            sw.clock.advance(30)  # call_timeout=30 from the vanilla dialplan
            actions.hangup(sw, b, "NO_ANSWER", peer=False)
            data, app_uuid = a.dialplan_bridge
            a.set_vars([("originate_disposition", "NO_ANSWER"), ("DIALSTATUS", "NO_ANSWER")])
            actions.execute_complete(sw, a, "bridge", data, app_uuid, "_none_")
            a.dialplan_bridge = None
            # the rung user's callee id stays on the caller's profile (real switch), then the loopback's
            a.set_profile(**{"Callee-ID-Name": "Outbound Call", "Callee-ID-Number": ext})
            dialplan.answer_app(sw, a)
            actions.execute(sw, a, "sleep", "1000")
            lb_data = "loopback/app=voicemail:default %s %s" % (sw.domain, ext)
            app_uuid = actions.execute(sw, a, "bridge", lb_data, complete=False)
            a.dialplan_bridge = (lb_data, app_uuid)
            cid = (a.profile["Caller-ID-Name"], a.profile["Caller-ID-Number"])
            la = Leg(sw, "loopback/voicemail-a", "outbound", "voicemail",
                     dialplan.caller_profile("outbound", a.profile.get("Username", ""), cid[0], cid[1],
                                             "voicemail", callee=("Outbound Call", ext)))
            la.hit_dialplan = False
            la.set_vars([("direction", "outbound"), ("uuid", la.uuid), ("call_uuid", a.uuid),
                         ("channel_name", la.name), ("originator", a.uuid), ("loopback_leg", "A"),
                         ("is_loopback", "1"), ("dialed_extension", ext), ("signal_bond", a.uuid)])
            # mod_loopback sets both halves' codecs before their CHANNEL_CREATE (real 1.11 switch)
            la.media = True
            actions.originate(sw, a, la)
            lb = Leg(sw, "loopback/voicemail-b", "inbound", "voicemail",
                     dialplan.caller_profile("inbound", "", cid[0], cid[1], "voicemail", context="default"))
            lb.set_vars([("direction", "inbound"), ("uuid", lb.uuid), ("call_uuid", lb.uuid),
                         ("channel_name", lb.name), ("loopback_leg", "B"), ("is_loopback", "1"),
                         ("other_loopback_leg_uuid", la.uuid)])
            lb.media = True
            actions.create_inbound(sw, lb)
            la.set_var("other_loopback_leg_uuid", lb.uuid)
            actions.answer(sw, la)
            actions.answer(sw, lb)
            a.set_profile(**{"Callee-ID-Number": "default %s %s" % (sw.domain, ext)})
            a.bridge_side, la.bridge_side = "a", "b"
            actions.bridge(sw, a, la)
            vm_data = "default %s %s" % (sw.domain, ext)
            vm_uuid = actions.execute(sw, lb, "voicemail", vm_data, complete=False)
            self.b = la
            la.owner = self
            self.loopback_b = lb
            lb.owner = self
            path = os.path.join(sw.recordings_dir or "/tmp", "voicemail", "default", sw.domain, ext,
                                "msg_%s.wav" % new_uuid())
        lb.talking = False
        actions.record_start(sw, lb, path)
        self.a.talking = True
        try:
            sw.advance(message_seconds)
        finally:
            self.a.talking = False
        with sw.lock:
            actions.record_stop(sw, lb, path)
            sw.fire("CUSTOM", lb, subclass="vm::maintenance", lead=[
                ("VM-Action", "leave-message"), ("VM-User", ext), ("VM-Domain", sw.domain),
                ("VM-Caller-ID-Name", a.profile["Caller-ID-Name"]),
                ("VM-Caller-ID-Number", a.profile["Caller-ID-Number"]), ("VM-File-Path", path),
                ("VM-Flags", ""), ("VM-Folder", "inbox"), ("VM-UUID", new_uuid()),
                ("VM-Message-Len", int(message_seconds)), ("VM-Timestamp", int(sw.clock.now()))],
                origin=("mod_voicemail.c", "deliver_vm", 2600))
            self._vm = (lb, vm_data, vm_uuid)
        return la

    def hangup_voicemail(self, cause="NORMAL_CLEARING"):
        """Caller hangs up after leaving a voicemail (both loopback halves go too)."""
        sw = self.sw
        with sw.lock:
            lb, vm_data, vm_uuid = self._vm
            actions.hangup(sw, self.a, cause)
            actions.execute_complete(sw, lb, "voicemail", vm_data, vm_uuid, "_none_")
            actions.hangup(sw, lb, "NORMAL_CLEARING")
        return self

    def blind_transfer(self, by="b", to="1002", method="refer"):
        """``by``'s phone transfers its peer to ``to``: by SIP REFER (vanilla: transferee sent to the
        dialplan) or by the dialplan ``transfer`` (*1 / uuid_transfer).  Returns the new Call
        between the transferee and ``to`` (ringing)."""
        sw = self.sw
        x = _leg_of(self, by)
        t = x.bridged_to
        with sw.lock:
            if method != "refer":
                return dialplan.dialplan_transfer(sw, t, to)
            x.set_vars([("transfer_to", "blind:%s" % to), ("transfer_destination", "blind:%s" % to),
                        ("endpoint_disposition", "BLIND_TRANSFER")])
            t.set_vars([("sip_refer_to", "<sip:%s@%s>" % (to, sw.domain)),
                        ("sip_h_Referred-By", "<sip:%s@%s>" % (x.party, sw.domain))])
            # the transferee leaves the bridge for the dialplan; the transferor then gets its BYE
            new = dialplan.dialplan_transfer(sw, t, to, drop_peer=False)
            actions.hangup(sw, x, "BLIND_TRANSFER", peer=False)
            return new

    def attended_transfer(self, by="b", to="1002"):
        """``by`` consults ``to`` with the vanilla ``att_xfer`` (*4).  Returns a Consult whose
        ``answer()`` connects the consulted party and ``complete()`` hands the call over."""
        return Consult(self, _leg_of(self, by), to)

    def forward(self, to="1002", reason="unconditional"):
        """Call forward in the dialplan: B (still ringing) is replaced by user/``to`` carrying
        ``sip_h_Diversion`` (no Caller-RDNIS).  Returns the new Call."""
        sw = self.sw
        with sw.lock:
            orig = self.a.profile["Destination-Number"]
            div = "<sip:%s@%s>;reason=%s" % (orig, sw.domain, reason)
            actions.hangup(sw, self.b, "NORMAL_CLEARING", peer=False)
            data, app_uuid = self.a.dialplan_bridge
            actions.execute_complete(sw, self.a, "bridge", data, app_uuid, "_none_")
            self.a.set_var("sip_h_Diversion", div)
            return dialplan.bridge_to_user(sw, self.a, to, diversion=div)

    def record_key(self, side="a", on=True):
        """The phone's Record key (SIP INFO ``Record: on|off``) with the stock record-template:
        RECORD_START/STOP nobody asked for, then a RECV_INFO without the Record header."""
        sw = self.sw
        leg = _leg_of(self, side)
        with sw.lock:
            if on:
                path = os.path.join(sw.recordings_dir or "/tmp", "%s.%s.%s.wav" % (
                    leg.profile.get("Caller-ID-Number", leg.party), sw.domain,
                    time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(sw.clock.now()))))
                # the real order: RECORD_START first, then mod_sofia sets sofia_record_file (no event for it)
                actions.record_start(sw, leg, path)
                leg.set_var("sofia_record_file", path)
            else:
                path = leg.get_var("sofia_record_file")
                if path:
                    actions.record_stop(sw, leg, path)
            sw.fire("RECV_INFO", leg, with_vars=False, lead=[
                ("SIP-Content-Type", "application/media_control+xml"), ("SIP-From-User", leg.party),
                ("SIP-From-Host", sw.domain), ("SIP-To-User", leg.profile.get("Destination-Number", "")),
                ("SIP-To-Host", sw.domain), ("SIP-Contact-User", leg.party), ("SIP-Contact-Host", "127.0.0.1")],
                body="", origin=("sofia.c", "sofia_handle_sip_i_info", 10233))
        return self

    def hold(self, side="a"):
        """``side`` puts the call on hold: CHANNEL_HOLD there, music on hold played to the peer
        (CHANNEL_EXECUTE playback + PLAYBACK_START local_stream://moh)."""
        sw = self.sw
        leg = _leg_of(self, side)
        peer = leg.bridged_to
        with sw.lock:
            actions.set_callstate(sw, leg, "HELD")
            leg.stamp("Channel-Last-Hold")
            sw.fire("CHANNEL_HOLD", leg)
            if peer is not None:
                app_uuid = actions.execute(sw, peer, "playback", "local_stream://moh", complete=False)
                peer.playback = media.Playback(peer, "local_stream://moh", None, app_uuid, stream_freq=MOH_FREQ)
                peer.playback.order = sw.next_seq()
                sw.fire("PLAYBACK_START", peer, trailers=[("Playback-File-Type", "local_stream"),
                                                          ("Playback-File-Path", "local_stream://moh")])
        return self

    def unhold(self, side="a"):
        sw = self.sw
        leg = _leg_of(self, side)
        peer = leg.bridged_to
        with sw.lock:
            if peer is not None and peer.playback is not None:
                actions._finish_playback(sw, peer, status="break")
            actions.set_callstate(sw, leg, "ACTIVE")
            sw.fire("CHANNEL_UNHOLD", leg)
        return self


class Consult:
    """An attended transfer in progress (vanilla att_xfer on the transferor's leg)."""

    def __init__(self, call, transferor, to):
        sw = call.sw
        self.call, self.x, self.to = call, transferor, to
        self.held = transferor.bridged_to
        self.consulting = False
        with sw.lock:
            self.app_uuid = actions.execute(sw, transferor, "att_xfer", "user/%s@%s" % (to, sw.domain),
                                            complete=False)
            # att_xfer remembers the bond it leaves waiting (SWITCH_SOFT_HOLDING_UUID_VARIABLE)
            transferor.set_var("soft_holding_uuid", self.held.uuid)
            transferor.set_vars([("dialed_user", to), ("dialed_domain", sw.domain)])
            self.c = dialplan.user_b_leg(sw, transferor, to)
            actions.originate(sw, transferor, self.c)
            self.c.other, self.c.other_type = transferor, "originator"

    def ring(self):
        actions.ring(self.call.sw, self.c)
        return self

    def answer(self):
        """The consulted party answers and att_xfer bridges it to the transferor
        (switch_ivr_multi_threaded_bridge): a real bridge, like any other call's.  The transferor's
        leg is the A side (CHANNEL_BRIDGE on it, Bridge-A = transferor, Bridge-B = consulted), the
        consulted leg gets ``call_uuid``/``bridge_to``/``signal_bond`` of it, the directory
        variables and CS_EXCHANGE_MEDIA, then CALL_UPDATE on both.  The held party stays in
        its (now idle) bridge with the transferor and hears nothing of the consultation."""
        sw = self.call.sw
        x, c, held = self.x, self.c, self.held
        with sw.lock:
            if c.profile.get("Channel-Progress-Time", "0") == "0":
                actions.ring(sw, c)
            actions.answer(sw, c)
            self.x_side = x.bridge_side
            x.bridge_side, c.bridge_side = "a", "b"
            actions.bridge(sw, x, c)
            held.bridged_to = None      # on hold: the transferor's audio now goes to the consulted party
            self.consulting = True
        return self

    def talk(self, seconds=1.0):
        self.c.talking = self.x.talking = True
        try:
            self.call.sw.advance(seconds)
        finally:
            self.c.talking = self.x.talking = False
        return self

    def complete(self):
        """The transferor hangs up: the held party and the consulted one are joined by
        uuid_bridge with the roles inverted; returns the new Call (a = consulted leg)."""
        sw = self.call.sw
        x, held, c = self.x, self.held, self.c
        with sw.lock:
            if self.consulting:
                actions.unbridge(sw, x, c)      # the consultation bridge ends first
                x.bridge_side = self.x_side
                held.bridged_to = x
            actions.execute_complete(sw, x, "att_xfer", "user/%s@%s" % (self.to, sw.domain),
                                     self.app_uuid, "_none_")
            # transferor's own leg ends; its bridge to the held party is torn down first
            a_side = held if held.bridge_side == "a" else x
            b_side = x if a_side is held else held
            actions.unbridge(sw, a_side, b_side)
            actions.hangup(sw, x, "NORMAL_CLEARING", peer=False)
            c.set_vars([("att_xfer_result", "success"), ("originator", x.uuid)])
            held.set_profile(**{"Callee-ID-Name": c.profile.get("Callee-ID-Name", self.to),
                                "Callee-ID-Number": self.to})
            c.bridge_side, held.bridge_side = "a", "b"
            c.other, c.other_type = held, "originatee"      # uuid_bridge: roles inverted
            held.other, held.other_type = c, "originator"
            held.dialplan_bridge = None
            actions.bridge(sw, c, held)
            new = Call(sw, c, held, kind="attended_transfer")
        return new
