"""Call shapes of the stock (vanilla) dialplan and the real-switch quirks of DESIGN.md §3."""
import json

from tests.fakeswitch import commands


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


def test_a_diversion_sent_by_the_callers_phone_stays_on_the_a_leg(fs):
    call = fs.call_user_to_user("1000", "1001", diversion="<sip:1000@x>;reason=unconditional")
    assert call.a.get_var("sip_h_Diversion") and call.b.get_var("sip_h_Diversion") is None


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
