"""Call shapes of the stock (vanilla) dialplan and the real-switch quirks of DESIGN.md §3."""
import json

from tests.fakeswitch import audio, commands


def api(fs, line):
    with fs.lock:
        return commands.execute(fs, line)


def names(fs, since, uuid=None, skip=("CHANNEL_STATE", "CHANNEL_CALLSTATE")):
    return [e.name for e in fs.events[since:] if (uuid is None or e.uuid == uuid) and e.name not in skip]


def test_user_to_user_legs_carry_user_name_and_dialed_user(fs):
    call = fs.call_user_to_user("1000", "1001")
    a, b = call.a, call.b
    assert a.direction == "inbound" and a.get_var("user_name") == "1000"
    assert b.direction == "outbound" and b.get_var("dialed_user") == "1001"
    assert b.name.startswith("sofia/internal/1001@")
    create = fs.wait_for_event("CHANNEL_CREATE", uuid=a.uuid)
    assert create.get("variable_dialed_user") is None          # not before the bridge ran
    call.ring().answer()
    bridge = fs.wait_for_event("CHANNEL_BRIDGE")
    assert bridge.uuid == a.uuid and bridge.get("variable_dialed_user") == "1001"
    assert bridge.get("Bridge-A-Unique-ID") == a.uuid and bridge.get("Bridge-B-Unique-ID") == b.uuid
    assert b.get_var("call_uuid") == a.uuid and b.get_var("record_stereo") == "true"
    assert [e.name for e in fs.events if e.name == "CHANNEL_BRIDGE"] == ["CHANNEL_BRIDGE"]  # once, on A


def test_answer_order_b_then_a_then_bridge(fs):
    call = fs.call_user_to_user("1000", "1001").ring()
    since = len(fs.events)
    call.answer()
    assert [(e.name, e.uuid) for e in fs.events[since:] if e.name in ("CHANNEL_ANSWER", "CHANNEL_BRIDGE")] == [
        ("CHANNEL_ANSWER", call.b.uuid), ("CHANNEL_ANSWER", call.a.uuid), ("CHANNEL_BRIDGE", call.a.uuid)]


def test_dtmf_one_event_per_digit_only_on_the_pressing_leg_without_variables(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    since = len(fs.events)
    call.dtmf("a", "*44")
    evs = fs.events[since:]
    assert [(e.name, e.uuid, e.get("DTMF-Digit")) for e in evs] == [("DTMF", call.a.uuid, d) for d in "*44"]
    assert not any(k.startswith("variable_") for k, _ in evs[0].headers())
    assert evs[0].get("DTMF-Source") == "RTP" and evs[0].get("DTMF-Duration") == "1600"


def test_hangup_from_either_side_with_cause(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    since = len(fs.events)
    call.hangup("b", cause="USER_BUSY")
    hang = [(e.uuid, e.get("Hangup-Cause")) for e in fs.events[since:] if e.name == "CHANNEL_HANGUP"]
    assert hang == [(call.b.uuid, "USER_BUSY"), (call.a.uuid, "NORMAL_CLEARING")]
    done = fs.wait_for_event("CHANNEL_HANGUP_COMPLETE", uuid=call.b.uuid)
    assert done.get("variable_hangup_cause") == "USER_BUSY" and done.get("variable_hangup_cause_q850") == "17"
    assert not fs.legs


def test_cancel_before_answer(fs):
    call = fs.call_user_to_user("1000", "1001").ring()
    call.cancel()
    done = fs.wait_for_event("CHANNEL_HANGUP_COMPLETE", uuid=call.b.uuid)
    assert done.get("Hangup-Cause") == "ORIGINATOR_CANCEL"
    assert not fs.legs


def test_user_to_external_has_no_dialed_user_on_the_gateway_leg(fs):
    call = fs.call_user_to_external("1000", "15551234567").ring().answer()
    assert call.b.name == "sofia/external/15551234567" and call.b.get_var("dialed_user") is None
    assert call.a.get_var("user_name") == "1000"
    call.hangup("a")


def test_external_call_arrives_through_public_transfer_with_rdnis_and_bl_xfer(fs):
    call = fs.call_external_to_user("15551234567", "1001").ring().answer()
    a = call.a
    assert a.get_var("user_name") is None and a.profile["RDNIS"] == "1001"
    assert ":bl_xfer:1001/default/XML" in a.get_var("transfer_history")
    ans = fs.wait_for_event("CHANNEL_ANSWER", uuid=a.uuid)
    assert ans.get("Caller-RDNIS") == "1001" and ans.get("Caller-Profile-Index") == "2"
    assert call.b.get_var("dialed_user") == "1001"


def test_no_answer_divert_answers_caller_then_bridges_to_loopback_voicemail(fs):
    call = fs.call_user_to_user("1000", "1001").ring()
    a, b = call.a, call.b
    since = len(fs.events)
    lb = call.no_answer_to_voicemail(message_seconds=2)
    assert fs.wait_for_event("CHANNEL_HANGUP", uuid=b.uuid).get("Hangup-Cause") == "NO_ANSWER"
    evs = [(e.name, e.uuid, e.get("Application")) for e in fs.events[since:]]
    assert ("CHANNEL_ANSWER", a.uuid, None) in evs
    bridge = [e for e in fs.events[since:] if e.name == "CHANNEL_BRIDGE"][0]
    assert bridge.uuid == a.uuid and bridge.get("Bridge-B-Unique-ID") == lb.uuid
    assert lb.name.startswith("loopback/") and "voicemail" in bridge.get("variable_current_application_data")
    assert evs.index(("CHANNEL_ANSWER", a.uuid, None)) < evs.index(("CHANNEL_BRIDGE", a.uuid, None))
    vm = fs.wait_for_event("CUSTOM")
    assert vm.subclass == "vm::maintenance" and vm.get("VM-Action") == "leave-message"
    assert any(e.name == "RECORD_START" and e.uuid == call.loopback_b.uuid for e in fs.events[since:])
    call.hangup_voicemail()
    assert not fs.legs


def test_voicemail_retrieval_answers_and_runs_voicemail_check(fs):
    for dialed in ("*98", "vmain", "4000"):
        since = len(fs.events)
        call = fs.voicemail_check("1000", dialed)
        ex = [e for e in fs.events[since:] if e.name == "CHANNEL_EXECUTE" and e.get("Application") == "voicemail"]
        assert ex and ex[0].get("Application-Data") == "check default %s 1000" % fs.domain
        assert call.a.answered and call.b is None
        call.dtmf("a", "1000#")
        call.hangup("a")


def test_blind_transfer_by_refer_marks_transferor_and_transferee(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    a, b = call.a, call.b
    new = call.blind_transfer(by="b", to="1002", method="refer")
    assert b.get_var("endpoint_disposition") == "BLIND_TRANSFER" and b.get_var("transfer_to") == "blind:1002"
    assert a.get_var("sip_refer_to") == "<sip:1002@%s>" % fs.domain and a.get_var("sip_h_Referred-By")
    assert fs.wait_for_event("CHANNEL_UNBRIDGE", uuid=a.uuid)
    assert fs.wait_for_event("CHANNEL_HANGUP", uuid=b.uuid).get("Hangup-Cause") == "BLIND_TRANSFER"
    assert new.a is a and new.b.get_var("dialed_user") == "1002"
    new.ring().answer()
    assert [e.get("Bridge-B-Unique-ID") for e in fs.events if e.name == "CHANNEL_BRIDGE"][-1] == new.b.uuid
    new.hangup("a")


def test_uuid_transfer_command_moves_the_leg_to_a_new_extension(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    assert api(fs, "uuid_transfer %s 1003 XML default" % call.a.uuid) == "+OK\n"
    new = fs.calls[-1]
    assert new.a is call.a and new.b.get_var("dialed_user") == "1003"
    assert fs.wait_for_event("CHANNEL_HANGUP", uuid=call.b.uuid).get("Hangup-Cause") == "BLIND_TRANSFER"
    assert call.a.profile["RDNIS"] == "1001" and "bl_xfer" in call.a.get_var("transfer_source")


def test_attended_transfer_rewrites_dialed_user_then_bridges_inverted(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    a, b = call.a, call.b
    consult = call.attended_transfer(by="b", to="1002")
    assert b.get_var("dialed_user") == "1002"           # rewritten during the consult
    consult.ring().answer().talk(1)
    final = consult.complete()
    bridge = [e for e in fs.events if e.name == "CHANNEL_BRIDGE"][-1]
    c = consult.c
    assert bridge.uuid == c.uuid and bridge.get("Bridge-B-Unique-ID") == a.uuid     # roles inverted
    assert bridge.get("variable_att_xfer_result") == "success" and bridge.get("variable_originator") == b.uuid
    assert b.uuid not in fs.legs and final.a is c and final.b is a
    assert a.profile["Callee-ID-Number"] == "1002"
    final.hangup("b")
    assert not fs.legs


def test_forward_carries_diversion_and_no_rdnis(fs):
    call = fs.call_user_to_user("1000", "1001").ring()
    new = call.forward(to="1002")
    assert new.b.get_var("sip_h_Diversion") == "<sip:1001@%s>;reason=unconditional" % fs.domain
    assert "RDNIS" not in new.b.profile and "RDNIS" not in call.a.profile
    new.ring().answer()
    assert fs.wait_for_event("CHANNEL_BRIDGE").get("variable_sip_h_Diversion")
    new.hangup("a")


def test_phone_record_key_gives_unrequested_record_start_and_recv_info_without_record_header(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    since = len(fs.commands)
    call.record_key("a", on=True)
    start = fs.wait_for_event("RECORD_START", uuid=call.a.uuid)
    info = fs.wait_for_event("RECV_INFO", uuid=call.a.uuid)
    assert start.get("Record-File-Path") == call.a.get_var("sofia_record_file")
    assert not any(k.lower() == "record" or k.startswith("variable_") for k, _ in info.headers())
    call.talk(1)
    call.record_key("a", on=False)
    assert fs.wait_for_event("RECORD_STOP", uuid=call.a.uuid)
    assert len(fs.commands) == since                       # nobody asked for it


def test_hold_plays_music_to_the_peer_with_playback_events(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    since = len(fs.events)
    call.hold("a")
    call.talk(1)
    call.unhold("a")
    evs = [(e.name, e.uuid) for e in fs.events[since:] if e.name not in ("CHANNEL_CALLSTATE",)]
    assert evs == [("CHANNEL_HOLD", call.a.uuid), ("CHANNEL_EXECUTE", call.b.uuid),
                   ("PLAYBACK_START", call.b.uuid), ("PLAYBACK_STOP", call.b.uuid),
                   ("CHANNEL_EXECUTE_COMPLETE", call.b.uuid), ("CHANNEL_UNHOLD", call.a.uuid)]


def test_hostile_caller_id_is_url_encoded_like_freeswitch(fs, esl):
    hostile = "Evil%0AEvent-Name: CHANNEL_HANGUP\nX: y %zz \u00fc"
    fs.call_user_to_user("1000", "1001", cid_name=hostile)
    frames = esl.events(until="CHANNEL_CREATE")
    raw = [f for f in frames if f[0] == "CHANNEL_CREATE"][0]
    # the raw wire form: %0A passed through (no double encoding), real newline encoded, ü byte-wise
    from tests.fakeswitch.encoding import url_encode
    wire = url_encode(hostile)
    assert wire == "Evil%0AEvent-Name%3A%20CHANNEL_HANGUP%0AX%3A%20y%20%25zz%20%C3%BC"
    assert dict(raw[1])["Caller-Caller-ID-Name"] == "Evil\nEvent-Name: CHANNEL_HANGUP\nX: y %zz \u00fc"


def test_uuid_commands_exact_replies(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    u = call.a.uuid
    assert api(fs, "uuid_exists %s" % u) == "true"
    assert api(fs, "uuid_setvar %s callrec_account 1000" % u) == "+OK\n"
    assert api(fs, "uuid_getvar %s callrec_account" % u) == "1000"
    assert api(fs, "uuid_getvar %s nothing_here" % u) == "_undef_"
    assert api(fs, "uuid_setvar nope x 1") == "-ERR No such channel!\n"
    assert api(fs, "uuid_broadcast nope /x.wav both") == "-ERR invalid uuid\n"
    dump = json.loads(api(fs, "uuid_dump %s json" % u))
    assert dump["Event-Name"] == "CHANNEL_DATA" and dump["variable_callrec_account"] == "1000"
    chans = json.loads(api(fs, "show channels as json"))
    assert chans["row_count"] == 2 and {r["uuid"] for r in chans["rows"]} == {u, call.b.uuid}
    calls = json.loads(api(fs, "show calls as json"))
    assert calls["row_count"] == 1 and calls["rows"][0]["b_uuid"] == call.b.uuid
    assert api(fs, "uuid_kill %s" % u) == "+OK\n"
    assert api(fs, "uuid_exists %s" % u) == "false"
    assert api(fs, "show channels as json") == '{"row_count": 0}\n'


def test_a_diversion_sent_by_the_callers_phone_is_on_its_channel_create_and_copied_onto_the_b_leg(fs):
    """As on a real 1.11 switch: mod_sofia stores the INVITE's Diversion on the caller's leg at creation and copies
    every sip_h_* of the originating leg onto the leg it originates (no Caller-RDNIS)."""
    div = "<sip:1003@x>;reason=unconditional"
    call = fs.call_user_to_user("1000", "1001", diversion=div)
    assert fs.wait_for_event("CHANNEL_CREATE", uuid=call.a.uuid).get("variable_sip_h_Diversion") == div
    b_create = fs.wait_for_event("CHANNEL_CREATE", uuid=call.b.uuid)
    assert b_create.get("variable_sip_h_Diversion") == div and b_create.get("variable_originator") == call.a.uuid
    assert "RDNIS" not in call.b.profile


def test_a_dialplan_forward_of_a_did_sets_diversion_after_the_callers_channel_create_and_the_b_leg_copies_it(fs):
    """The live tier's `live_did_forward`: `set sip_h_Diversion=...` on the caller's leg, then `bridge user/...`."""
    callers = "<sip:1003@carrier.example>;reason=no-answer"
    since = len(fs.events)
    call = fs.call_forwarded_number("1000", "5550100", to="1002", by="1001", diversion=callers)
    forwarder = "<sip:1001@%s>;reason=unconditional" % fs.domain
    a_create = fs.wait_for_event("CHANNEL_CREATE", uuid=call.a.uuid)
    assert a_create.get("variable_sip_h_Diversion") == callers
    assert a_create.get("Caller-Destination-Number") == "5550100"
    set_app = fs.wait_for_event("CHANNEL_EXECUTE", uuid=call.a.uuid, pred=lambda e: e.get("Application") == "set"
                                and e.get("Application-Data", "").startswith("sip_h_Diversion="))
    assert set_app.get("variable_sip_h_Diversion") == callers          # the EXECUTE fires before the set runs
    b_create = fs.wait_for_event("CHANNEL_CREATE", uuid=call.b.uuid, since=since)
    assert b_create.get("variable_sip_h_Diversion") == forwarder and b_create.get("variable_dialed_user") == "1002"
    assert call.b.get_var("callrec_redirected_by") is None and "RDNIS" not in call.b.profile
    call.ring().answer()
    assert fs.wait_for_event("CHANNEL_BRIDGE").get("variable_sip_h_Diversion") == forwarder
    call.hangup("a")


def test_dialed_alias_transferred_in_dialplan_keeps_user_vars_and_gains_rdnis(fs):
    call = fs.call_user_to_user("1000", "1001", dialed="3333").ring().answer()
    assert call.a.get_var("user_name") == "1000" and call.a.profile["RDNIS"] == "3333"
    assert call.b.profile["RDNIS"] == "3333"          # cloned into the originatee's profile


def test_attended_transfer_consult_is_a_bridge_on_the_transferors_leg(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    consult = call.attended_transfer(by="b", to="1002").answer()
    bridge = [e for e in fs.events if e.name == "CHANNEL_BRIDGE"][-1]
    assert (bridge.uuid, bridge.get("Bridge-B-Unique-ID")) == (call.b.uuid, consult.c.uuid)
    consult.complete().hangup("a")
    unbridges = [(e.uuid, e.get("Bridge-B-Unique-ID")) for e in fs.events if e.name == "CHANNEL_UNBRIDGE"]
    assert (call.b.uuid, consult.c.uuid) in unbridges and (call.a.uuid, call.b.uuid) in unbridges


def _pairs(fs, since, skip=("CHANNEL_CALLSTATE",)):
    return [(e.name, e.uuid) for e in fs.events[since:] if e.name not in skip]


def test_attended_transfer_consult_answer_is_a_real_bridge_of_the_transferor_and_the_consulted(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    a, x = call.a, call.b
    consult = call.attended_transfer(by="b", to="1002").ring()
    c = consult.c
    since = len(fs.events)
    consult.answer()
    assert _pairs(fs, since) == [
        ("CHANNEL_ANSWER", c.uuid),
        ("CHANNEL_BRIDGE", x.uuid),                      # on the transferor's leg: it is the A side
        ("CHANNEL_STATE", c.uuid),                       # CS_EXCHANGE_MEDIA
        ("CALL_UPDATE", c.uuid), ("CALL_UPDATE", x.uuid)]
    bridge = [e for e in fs.events[since:] if e.name == "CHANNEL_BRIDGE"][0]
    assert (bridge.get("Bridge-A-Unique-ID"), bridge.get("Bridge-B-Unique-ID")) == (x.uuid, c.uuid)
    assert bridge.get("variable_dialed_user") == "1002"            # the transferor's leg, rewritten
    assert bridge.get("variable_soft_holding_uuid") == a.uuid      # the caller waits on hold
    assert bridge.get("Other-Leg-Unique-ID") == c.uuid
    state = [e for e in fs.events[since:] if e.name == "CHANNEL_STATE"][0]
    assert state.get("Channel-State") == "CS_EXCHANGE_MEDIA"
    # the consulted leg is bridged like any B-leg: bond variables and the directory's, after the bridge
    assert c.get_var("call_uuid") == x.uuid and c.get_var("bridge_to") == x.uuid
    assert c.get_var("dialed_user") == "1002" and c.get_var("record_stereo") == "true"
    assert x.bridged_to is c and c.bridged_to is x
    assert not [e for e in fs.events[since:] if e.uuid == a.uuid]  # nothing happens on the held caller


def test_attended_transfer_completion_unbridges_the_consult_then_bridges_the_caller_inverted(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    a, x = call.a, call.b
    consult = call.attended_transfer(by="b", to="1002").ring().answer()
    c = consult.c
    since = len(fs.events)
    final = consult.complete()
    seq = [(e.name, e.uuid, e.get("Bridge-A-Unique-ID"), e.get("Bridge-B-Unique-ID")) for e in fs.events[since:]
           if e.name in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE")]
    assert seq == [
        ("CHANNEL_UNBRIDGE", x.uuid, x.uuid, c.uuid),    # the consultation ends first
        ("CHANNEL_EXECUTE_COMPLETE", x.uuid, None, None),   # att_xfer returns
        ("CHANNEL_UNBRIDGE", a.uuid, a.uuid, x.uuid),    # the original bridge, on its A side
        ("CHANNEL_HANGUP", x.uuid, None, None),          # the transferor is gone
        ("CHANNEL_BRIDGE", c.uuid, c.uuid, a.uuid)]      # uuid_bridge: roles inverted
    bridge = [e for e in fs.events[since:] if e.name == "CHANNEL_BRIDGE"][0]
    assert bridge.get("variable_att_xfer_result") == "success" and bridge.get("variable_originator") == x.uuid
    assert final.a is c and final.b is a and a.profile["Callee-ID-Number"] == "1002"
    assert c.get_var("bridge_to") == a.uuid and a.get_var("call_uuid") == c.uuid
    final.hangup("a")
    assert not fs.legs


def test_the_held_caller_hears_nothing_of_the_consultation(fs):
    call = fs.call_user_to_user("1000", "1001").ring().answer()
    consult = call.attended_transfer(by="b", to="1002").ring().answer()
    path_a = fs.recordings_dir + "/held.wav"
    path_c = fs.recordings_dir + "/consulted.wav"
    assert api(fs, "uuid_record %s start %s" % (call.a.uuid, path_a)) == "+OK Success\n"
    assert api(fs, "uuid_record %s start %s" % (consult.c.uuid, path_c)) == "+OK Success\n"
    consult.talk(2)
    f_transferor = audio.party_frequency("1001")
    assert audio.tone_level(path_a, f_transferor, channel=1) < 0.05    # the caller is on hold
    assert audio.tone_level(path_c, f_transferor, channel=1) > 0.9     # the consulted party hears 1001
    consult.complete().talk(1).hangup("a")


def test_conference_call_is_answered_by_the_dialplan_and_never_bridged(fs):
    since = len(fs.events)
    call = fs.call_user_to_conference("1000", "3000")
    a = call.a
    assert call.b is None and a.answered and a.bridged_to is None and list(fs.legs) == [a.uuid]
    seq = [(e.name, e.get("Application") or e.get("Action")) for e in fs.events[since:]
           if e.name in ("CHANNEL_ANSWER", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CUSTOM")]
    assert seq == [("CHANNEL_EXECUTE", "answer"), ("CHANNEL_ANSWER", None), ("CHANNEL_EXECUTE_COMPLETE", "answer"),
                   ("CHANNEL_EXECUTE", "conference"), ("CUSTOM", "add-member")]
    execute = [e for e in fs.events[since:] if e.get("Application") == "conference"][0]
    assert execute.get("Application-Data") == "3000-%s@default" % fs.domain
    assert execute.get("variable_user_name") == "1000"
    assert not [e for e in fs.events if e.uuid == a.uuid and e.get("variable_dialed_user")]  # no user/ bridge
    add = [e for e in fs.events[since:] if e.name == "CUSTOM"][0]
    assert add.subclass == "conference::maintenance" and add.uuid == a.uuid
    assert (add.get("Conference-Name"), add.get("Member-ID"), add.get("Conference-Size")) == (
        "3000-%s" % fs.domain, "1", "1")
    call.talk(2)
    since = len(fs.events)
    call.hangup("a")
    seq = [(e.name, e.get("Channel-State"), e.get("Application") or e.get("Action")) for e in fs.events[since:]
           if e.name in ("CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE", "CUSTOM", "CHANNEL_HANGUP_COMPLETE")]
    assert seq == [("CHANNEL_HANGUP", "CS_EXECUTE", None), ("CUSTOM", "CS_HANGUP", "del-member"),
                   ("CHANNEL_EXECUTE_COMPLETE", "CS_HANGUP", "conference"),
                   ("CHANNEL_HANGUP_COMPLETE", "CS_REPORTING", None)]
    assert not [e for e in fs.events if e.name in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE")]
    assert not fs.legs and not fs.conferences


def test_conference_members_share_the_room_and_show_as_separate_channels(fs):
    first = fs.call_user_to_conference("1000", "3001")
    second = fs.call_user_to_conference("1001", "3001")
    adds = [e for e in fs.events if e.name == "CUSTOM" and e.get("Action") == "add-member"]
    assert [(e.uuid, e.get("Member-ID"), e.get("Conference-Size")) for e in adds] == [
        (first.a.uuid, "1", "1"), (second.a.uuid, "2", "2")]
    assert len({e.get("Conference-Unique-ID") for e in adds}) == 1
    calls = json.loads(api(fs, "show calls as json"))
    assert calls["row_count"] == 2 and not any(r.get("b_uuid") for r in calls["rows"])
    first.hangup("a")
    second.hangup("a")
    assert not fs.conferences
