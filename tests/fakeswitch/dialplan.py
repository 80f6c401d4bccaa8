"""The stock (vanilla) dialplan: how calls are built and routed.

Leg builders (registered user, ``user/NNNN``, gateway, external caller) with the variables
of the real 1.10 capture, the Local_Extension bridge, the public->default ``transfer``,
session transfers (bl_xfer) and voicemail retrieval.  Returns :class:`scenarios.Call` objects.
"""
import itertools
import logging

from . import actions, scenarios, templates
from .model import Leg, new_uuid

log = logging.getLogger(__name__)


# Variables the stock directory (conf/vanilla/directory/default/NNNN.xml + default.xml) gives a user.
USER_DIRECTORY_VARS = {
    "sip_number_alias", "sip_auth_username", "sip_auth_realm", "number_alias", "requested_user_name",
    "requested_domain_name", "record_stereo", "default_gateway", "default_areacode",
    "transfer_fallback_extension", "toll_allow", "accountcode", "user_context",
    "effective_caller_id_name", "effective_caller_id_number", "outbound_caller_id_name",
    "outbound_caller_id_number", "callgroup", "user_name", "domain_name", "sip_from_user_stripped",
    "sip_authorized",
}
_call_ids = itertools.count(20000)


def _tokens(sw, a_uuid, b_uuid, a_user, b_user, cid_name):
    now = sw.clock.now_us()
    return {"a_uuid": a_uuid, "b_uuid": b_uuid, "core_uuid": sw.core_uuid, "a_user": a_user,
            "b_user": b_user, "a_cid_name": cid_name,
            "a_call_id": "%d-%d@%s" % (1, next(_call_ids), sw.domain), "b_call_id": new_uuid(),
            "now_us": now, "now_s": now // 1_000_000}


def caller_profile(direction, username, cid_name, cid_num, dest, context="default", callee=None, orig=None):
    p = {"Direction": direction, "Logical-Direction": direction, "Username": username,
         "Caller-ID-Name": cid_name, "Caller-ID-Number": cid_num,
         "Orig-Caller-ID-Name": (orig or (cid_name, cid_num))[0],
         "Orig-Caller-ID-Number": (orig or (cid_name, cid_num))[1],
         "Network-Addr": "127.0.0.1", "ANI": cid_num, "Destination-Number": dest, "Context": context}
    if callee:
        p["Callee-ID-Name"], p["Callee-ID-Number"] = callee
    return p


def answer_app(sw, leg):
    """The dialplan ``answer`` application: EXECUTE, the answer itself, EXECUTE_COMPLETE."""
    app_uuid = actions.execute(sw, leg, "answer", "", complete=False)
    actions.answer(sw, leg)
    actions.execute_complete(sw, leg, "answer", "", app_uuid)


def user_b_leg(sw, a, callee, codec=None, diversion=None):
    """A ``user/NNNN`` leg originated for ``a`` (vanilla Local_Extension bridge)."""
    a_user = a.profile.get("Caller-ID-Number", a.party)
    # the B-leg shows the directory's effective_caller_id_name of a user caller (capture)
    shown = "Extension %s" % a_user if a.get_var("user_name") else a.profile.get("Caller-ID-Name", "")
    orig = (a.profile.get("Orig-Caller-ID-Name", ""), a.profile.get("Orig-Caller-ID-Number", ""))
    profile = caller_profile("outbound", a.profile.get("Username", a_user), shown, a_user, callee,
                             callee=("Outbound Call", callee), orig=orig)
    b = Leg(sw, "sofia/internal/%s@%s:5070" % (callee, sw.domain), "outbound", callee, profile,
            codec=codec or a.codec)
    b.hit_dialplan = False
    if a.profile.get("RDNIS"):
        b.set_profile(RDNIS=a.profile["RDNIS"])   # the originatee's profile is cloned from A's
    b.presence_id = "%s@%s" % (callee, sw.domain)
    b.baseline = templates.B_LEG_VARS
    b.tokens = dict(a.tokens, b_uuid=b.uuid, b_user=callee, b_call_id=new_uuid(),
                    a_user=a_user, now_us=sw.clock.now_us())
    a.tokens.setdefault("b_uuid", b.uuid)
    b.apply_baseline(b.baseline, "create", b.tokens)
    b.set_vars([("call_uuid", a.uuid), ("originator", a.uuid), ("originating_leg_uuid", a.uuid),
                ("signal_bond", a.uuid)])
    copy_sip_headers(a, b)
    if diversion:   # the dial string's {sip_h_Diversion=...}: on the new leg only
        b.set_var("sip_h_Diversion", diversion)
    return b


def copy_sip_headers(a, b):
    """mod_sofia copies every ``sip_h_*`` variable of the originating leg onto the leg it originates: on a real
    1.11 switch the B-leg's CHANNEL_CREATE carries the Diversion header of the caller's INVITE, or the one the
    dialplan ``set`` on the caller's leg (tests/live/test_live_redirects.py)."""
    b.set_vars([(name, value) for name, value in list(a.variables.items()) if name.lower().startswith("sip_h_")])


def bridge_to_user(sw, a, callee, diversion=None, codec=None):
    """Vanilla Local_Extension on ``a``: set/export, then ``bridge user/<callee>@<domain>``."""
    a.tokens["b_user"] = callee
    actions.execute(sw, a, "export", "dialed_extension=%s" % callee)
    a.set_var("dialed_extension", callee)
    actions.execute(sw, a, "set", "hangup_after_bridge=true")
    a.apply_baseline(a.baseline, "route", a.tokens, skip=("current_application", "current_application_data"))
    data = "user/%s@%s" % (callee, sw.domain)
    app_uuid = actions.execute(sw, a, "bridge", data, complete=False)
    a.dialplan_bridge = (data, app_uuid)
    b = user_b_leg(sw, a, callee, codec=codec, diversion=diversion)
    a.set_vars([("dialed_user", callee), ("dialed_domain", sw.domain)])
    actions.originate(sw, a, b)
    return scenarios.Call(sw, a, b)


def forwarded_number(sw, caller, number, to, by, diversion=None, reason="unconditional"):
    """Registered ``caller`` dials ``number`` (a DID or hunt number, nobody's own number), which the ISP's dialplan
    forwards to user ``to``: ``set sip_h_Diversion=<sip:<by>@<domain>>;reason=...`` on the caller's leg (no
    ``callrec_redirected_by``), then ``bridge user/<to>``, whose leg gets mod_sofia's copy of it (the live tier's
    ``live_did_forward`` extension). ``diversion``: a Diversion header the caller's own phone sent (on the A-leg
    from its CHANNEL_CREATE on, replaced by the dialplan's ``set``). ``by=None``: a route that sets no Diversion
    (a hunt group member, follow-me)."""
    with sw.lock:
        a = _user_a_leg(sw, caller, number)
        if diversion:
            a.set_var("sip_h_Diversion", diversion)
        actions.create_inbound(sw, a)
        if by is not None:
            div = "<sip:%s@%s>;reason=%s" % (by, sw.domain, reason)
            actions.execute(sw, a, "set", "sip_h_Diversion=" + div)
            a.set_var("sip_h_Diversion", div)
        return bridge_to_user(sw, a, to)


def _cid(name, default):
    """Caller-ID name as a str; raw bytes (non-UTF-8 from a hostile phone) kept byte-exact."""
    if name is None:
        return default
    return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name


def _user_a_leg(sw, caller, dest, cid_name=None, codec="PCMU"):
    cid_name = _cid(cid_name, caller)
    a = Leg(sw, "sofia/internal/%s@%s" % (caller, sw.domain), "inbound", caller,
            caller_profile("inbound", caller, cid_name, caller, dest), codec=codec)
    a.presence_id = "%s@%s" % (caller, sw.domain)
    a.baseline = templates.A_LEG_VARS
    a.tokens = _tokens(sw, a.uuid, "", caller, dest, cid_name)
    a.apply_baseline(a.baseline, "create", a.tokens)
    return a


def user_to_user(sw, caller, callee, cid_name=None, codec="PCMU", callee_codec=None, dialed=None,
                 diversion=None):
    """Registered ``caller`` dials ``callee`` (user/NNNN): A-leg with variable_user_name, B-leg
    with variable_dialed_user (the A-leg gets dialed_user once its bridge runs).  With
    ``dialed`` the caller dialed that extension and the dialplan ``transfer``red it to
    ``callee`` (an alias): the A-leg then carries Caller-RDNIS and a bl_xfer transfer_history.
    ``diversion``: a Diversion header the caller's own phone sent (A-leg ``sip_h_Diversion``)."""
    with sw.lock:
        a = _user_a_leg(sw, caller, dialed or callee, cid_name, codec)
        if diversion:
            a.set_var("sip_h_Diversion", diversion)
        actions.create_inbound(sw, a)
        if dialed:
            actions.execute(sw, a, "transfer", "%s XML default" % callee)
            session_transfer(sw, a, callee)
        return bridge_to_user(sw, a, callee, codec=callee_codec)


def user_to_external(sw, caller, number, cid_name=None, codec="PCMU", gateway="example.com"):
    """Registered ``caller`` dials an outside ``number`` through ``sofia/gateway/<gateway>``."""
    with sw.lock:
        a = _user_a_leg(sw, caller, number, cid_name, codec)
        actions.create_inbound(sw, a)
        a.apply_baseline(a.baseline, "route", a.tokens)
        data = "sofia/gateway/%s/%s" % (gateway, number)
        app_uuid = actions.execute(sw, a, "bridge", data, complete=False)
        a.dialplan_bridge = (data, app_uuid)
        b = Leg(sw, "sofia/external/%s" % number, "outbound", number,
                caller_profile("outbound", caller, a.get_var("outbound_caller_id_name", caller),
                         a.get_var("outbound_caller_id_number", caller), number,
                         callee=("Outbound Call", number)), codec=codec)
        b.hit_dialplan = False
        b.baseline = [v for v in templates.B_LEG_VARS if v[0] not in USER_DIRECTORY_VARS
                      and v[0] not in ("dialed_user", "dialed_domain")]
        b.tokens = dict(a.tokens, b_uuid=b.uuid, b_user=number, b_call_id=new_uuid())
        b.apply_baseline(b.baseline, "create", b.tokens)
        b.set_vars([("call_uuid", a.uuid), ("sip_gateway_name", gateway), ("sip_profile_name", "external"),
                    ("channel_name", b.name)])
        copy_sip_headers(a, b)
        actions.originate(sw, a, b)
        return scenarios.Call(sw, a, b, kind="user_to_external")


def external_to_user(sw, number, callee, cid_name=None, codec="PCMU", gateway_ip="198.51.100.7",
                     diversion=None):
    """An outside caller reaches ``callee``: the public context transfers to default, so the
    A-leg carries Caller-RDNIS and a bl_xfer transfer_history (not a redirect by itself).
    ``diversion``: the carrier's Diversion header (A-leg ``sip_h_Diversion``)."""
    with sw.lock:
        cid_name = _cid(cid_name, number)
        a = Leg(sw, "sofia/external/%s@%s" % (number, gateway_ip), "inbound", number,
                caller_profile("inbound", "", cid_name, number, callee, context="public"), codec=codec)
        a.set_profile(**{"Network-Addr": gateway_ip})
        a.baseline = [v for v in templates.A_LEG_VARS if v[0] not in USER_DIRECTORY_VARS]
        a.tokens = _tokens(sw, a.uuid, "", number, callee, cid_name)
        a.apply_baseline(a.baseline, "create", a.tokens)
        a.set_vars([("sofia_profile_name", "external"), ("channel_name", a.name)])
        if diversion:
            a.set_var("sip_h_Diversion", diversion)
        actions.create_inbound(sw, a)
        actions.execute(sw, a, "transfer", "%s XML default" % callee)
        session_transfer(sw, a, callee)
        return bridge_to_user(sw, a, callee)


def session_transfer(sw, leg, dest, context="default"):
    """switch_ivr_session_transfer: new caller profile (index+1, RDNIS, Transfer-Source) and
    transfer_history / transfer_source ``<epoch>:<uuid>:bl_xfer:<dest>/<context>/XML``."""
    src = "%d:%s:bl_xfer:%s/%s/XML" % (int(sw.clock.now()), new_uuid(), dest, context)
    old_dest = leg.profile.get("Destination-Number", "")
    leg.set_profile(**{"Profile-Index": int(leg.profile.get("Profile-Index", "1")) + 1,
                       "Transfer-Source": src, "RDNIS": old_dest, "Destination-Number": dest,
                       "Context": context, "Profile-Created-Time": sw.clock.now_us()})
    leg.stamp("Channel-Transfer-Time")
    history = leg.get_var("transfer_history")
    leg.set_var("transfer_history", src if not history else "ARRAY::%s|:%s" % (
        history[len("ARRAY::"):] if history.startswith("ARRAY::") else history, src))
    leg.set_var("transfer_source", src)
    actions.set_state(sw, leg, "CS_ROUTING")
    actions.set_state(sw, leg, "CS_EXECUTE")


def dialplan_transfer(sw, leg, dest, context="default", drop_peer=True):
    """Blind transfer of ``leg`` to extension ``dest`` (uuid_transfer / dialplan transfer):
    its bridge ends, its peer is hung up, it runs the dialplan for ``dest`` again."""
    with sw.lock:
        peer = leg.bridged_to
        if peer is not None:
            a_side = leg if leg.bridge_side == "a" else peer
            actions.unbridge(sw, a_side, peer if a_side is leg else leg)
            if a_side.dialplan_bridge:
                actions.execute_complete(sw, a_side, "bridge", *a_side.dialplan_bridge)
                a_side.dialplan_bridge = None
            if drop_peer and peer.alive:
                actions.hangup(sw, peer, "BLIND_TRANSFER", peer=False)
        leg.bridge_side = None
        session_transfer(sw, leg, dest, context)
        if dest.isdigit() and 1000 <= int(dest) <= 1019:
            return bridge_to_user(sw, leg, dest)
        return scenarios.Call(sw, leg, None, kind="transferred")


def voicemail_check(sw, user, dialed="*98", cid_name=None):
    """``user`` dials ``*98``/``vmain``/``4000``: answer + ``voicemail check default <domain> <user>``.
    Returns a Call whose only leg is ``a`` (DTMF the PIN with ``call.dtmf("a", "1000#")``)."""
    with sw.lock:
        a = _user_a_leg(sw, user, dialed, cid_name)
        # the vmain extension, not Local_Extension: no dialed_user & co. (the real switch's *98 leg has none)
        a.baseline = [v for v in a.baseline if v[0] not in _LOCAL_EXTENSION_VARS]
        actions.create_inbound(sw, a)
        a.apply_baseline(a.baseline, "route", a.tokens)
        answer_app(sw, a)
        actions.execute(sw, a, "sleep", "1000")
        data = "check default %s %s" % (sw.domain, user)
        app_uuid = actions.execute(sw, a, "voicemail", data, complete=False)
        a.dialplan_bridge = None
        call = scenarios.Call(sw, a, None, kind="voicemail_check")
        call._vm = (a, data, app_uuid)
        return call


_LOCAL_EXTENSION_VARS = {
    "dialed_user", "dialed_domain", "dialed_extension", "export_vars", "RFC2822_DATE", "ringback",
    "transfer_ringback", "call_timeout", "hangup_after_bridge", "continue_on_fail", "called_party_callgroup",
}


def conference(sw, caller, room="3000", cid_name=None):
    """``caller`` dials a vanilla conference room (``nb_conferences``: ``^(30\\d\\d)$`` → ``answer``,
    ``conference $1-${domain_name}@default``): the dialplan answers the caller itself and the
    ``conference`` application keeps the channel; no other leg, no bridge, ever.  mod_conference
    fires CUSTOM ``conference::maintenance`` ``add-member`` (and ``del-member`` at hangup, before
    the application's EXECUTE_COMPLETE).  Returns a Call whose only leg is ``a``."""
    with sw.lock:
        a = _user_a_leg(sw, caller, room, cid_name)
        # no Local_Extension and no user/ bridge: none of their variables (dialed_user, ringback, ...)
        a.baseline = [v for v in a.baseline if v[0] not in _LOCAL_EXTENSION_VARS]
        actions.create_inbound(sw, a)
        a.apply_baseline(a.baseline, "route", a.tokens)
        answer_app(sw, a)
        name = "%s-%s" % (room, sw.domain)
        data = "%s@default" % name
        a.set_var("conference_name", name)
        app_uuid = actions.execute(sw, a, "conference", data, complete=False)
        conf = sw.conferences.setdefault(name, {"uuid": new_uuid(), "members": [], "next_id": 1})
        member_id = conf["next_id"]
        conf["next_id"] += 1
        conf["members"].append(a)
        a.set_vars([("conference_uuid", conf["uuid"]), ("conference_member_id", member_id)])

        def member_event(action):
            sw.fire("CUSTOM", a, subclass="conference::maintenance", lead=[
                ("Conference-Name", name), ("Conference-Domain", sw.domain),
                ("Conference-Size", len(conf["members"])), ("Conference-Ghosts", 0),
                ("Conference-Profile-Name", "default"), ("Conference-Unique-ID", conf["uuid"]),
                ("Floor", "true" if len(conf["members"]) == 1 else "false"), ("Video", "false"),
                ("Hear", "true"), ("See", "true"), ("Speak", "true"), ("Talking", "false"),
                ("Mute-Detect", "false"), ("Member-ID", member_id), ("Member-Type", "participant"),
                ("Member-Ghost", "false"), ("Energy-Level", 100), ("Current-Energy", 0)],
                trailers=[("Action", action)], origin=("conference_member.c", "conference_member_add_event_data", 58))

        def leave():
            if a in conf["members"]:
                conf["members"].remove(a)
            member_event("del-member")
            if not conf["members"]:
                sw.conferences.pop(name, None)

        member_event("add-member")
        a.running_app = ("conference", data, app_uuid, leave)
        call = scenarios.Call(sw, a, None, kind="conference")
        call.conference = name
        return call
