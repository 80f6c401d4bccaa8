"""Event rendering in FreeSWITCH 1.10 header order.

Order (switch_event.c / switch_channel.c, confirmed by ``data/fs110_call.txt``):
[Event-Subclass] core headers, event-specific leading headers (``lead``), basic channel data,
``Caller-*``, ``Other-Type``/``Other-Leg-*``, ``variable_*`` (only for the event types FreeSWITCH
extends), event-specific trailers, optional inner body.  Renders straight to the encoded wire text
so the same string is reused for every subscriber.
"""
import time

from .encoding import finish_plain, header_line, parse_plain

# Event-Calling-File / Function / Line-Number, from the 1.10 capture (others from source).
ORIGINS = {
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2409),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 626),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 302),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2949),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2972),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 632),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3507),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered", 3562),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3848),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879),
    "CALL_UPDATE": ("mod_sofia.c", "sofia_receive_message", 2133),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", 95),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1482),
    "RECORD_STOP": ("switch_ivr_async.c", "send_record_stop_event", 1241),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_destroy", 84),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1649),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2023),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 678),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3447),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c", "switch_core_session_reporting_state", 943),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1588),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1572),
    "RECV_INFO": ("sofia.c", "sofia_handle_sip_i_info", 10233),
    "CHANNEL_HOLD": ("switch_channel.c", "switch_channel_perform_mark_hold", 1318),
    "CHANNEL_UNHOLD": ("switch_channel.c", "switch_channel_perform_mark_hold", 1334),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1009),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1184),
    "CUSTOM": ("sofia.c", "sofia_handle_sip_i_refer", 9682),
    "API": ("switch_loadable_module.c", "switch_api_execute", 3140),
}

# Types switch_channel_event_set_extended_data adds variable_* to (switch_channel.c l.2768-2800).
WITH_VARS = {
    "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_ANSWER", "CHANNEL_PARK",
    "CHANNEL_UNPARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DATA", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_DESTROY", "API", "RECORD_START", "RECORD_STOP",
    "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "MEDIA_BUG_START", "MEDIA_BUG_STOP",
    "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CUSTOM",
}
# Types that carry no Caller-* profile (CHANNEL_STATE CS_NEW is the only channel one: no profile yet).


class Event:
    """A rendered event: name, optional subclass, encoded serialisation, owning leg uuid."""

    __slots__ = ("name", "subclass", "text", "uuid", "seq", "_headers", "_body", "job_uuid")

    def __init__(self, name, subclass, text, uuid=None, seq=0, job_uuid=None):
        self.name = name
        self.subclass = subclass
        self.text = text
        self.uuid = uuid
        self.seq = seq
        self.job_uuid = job_uuid
        self._headers = None
        self._body = None

    def headers(self):
        """Decoded ``[(name, value)]`` (repeats kept); parsed lazily, only filters/json need it."""
        if self._headers is None:
            self._headers, self._body = parse_plain(self.text)
        return self._headers

    def body(self):
        self.headers()
        return self._body

    def get(self, name, default=None):
        for k, v in self.headers():
            if k == name:
                return v
        return default

    def __repr__(self):
        return "<Event %s%s %s>" % (self.name, "/" + self.subclass if self.subclass else "",
                                    (self.uuid or "")[:8])


class Renderer:
    """Renders events for one switch identity (Core-UUID, hostname, addresses)."""

    def __init__(self, switch):
        self.switch = switch
        self._date_cache = (None, "", "")

    def _dates(self, now):
        sec = int(now)
        if self._date_cache[0] != sec:
            local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
            gmt = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(sec))
            self._date_cache = (sec, header_line("Event-Date-Local", local), header_line("Event-Date-GMT", gmt))
        return self._date_cache[1], self._date_cache[2]

    def core(self, name, seq, subclass=None, origin=None):
        sw = self.switch
        now = sw.clock.now()
        local, gmt = self._dates(now)
        f, fn, line = origin or ORIGINS.get(name, ("switch_event.c", "switch_event_fire_detailed", 0))
        head = header_line("Event-Subclass", subclass) if subclass else ""
        return "".join((
            head, "Event-Name: ", name, "\nCore-UUID: ", sw.core_uuid, "\n",
            sw.identity_block, local, gmt,
            "Event-Date-Timestamp: %d\n" % int(now * 1_000_000),
            "Event-Calling-File: %s\nEvent-Calling-Function: %s\nEvent-Calling-Line-Number: %d\n" % (f, fn, line),
            "Event-Sequence: %d\n" % seq,
        ))

    def channel_event(self, name, leg, seq, lead=(), trailers=(), body=None, subclass=None,
                      with_vars=None, with_profile=True, origin=None, state_number=None):
        """Render a channel event of ``leg``; ``lead``/``trailers`` are ``(name, value)`` pairs."""
        parts = [self.core(name, seq, subclass, origin)]
        parts.extend(header_line(k, v) for k, v in lead)
        basic = leg.basic_block()
        if state_number is not None:
            basic = basic.replace("Channel-State-Number: %d\n" % leg.state_number,
                                  "Channel-State-Number: %d\n" % state_number, 1)
        parts.append(basic)
        if with_profile:
            parts.append(leg.profile_block())
            parts.append(leg.other_block())
        if with_vars if with_vars is not None else name in WITH_VARS:
            parts.append(leg.vars_block())
        parts.extend(header_line(k, v) for k, v in trailers)
        return Event(name, subclass, finish_plain("".join(parts), body), leg.uuid, seq)

    def plain_event(self, name, seq, headers=(), body=None, subclass=None, origin=None, uuid=None):
        """A non-channel event (HEARTBEAT, BACKGROUND_JOB, CUSTOM without channel, ...)."""
        text = self.core(name, seq, subclass, origin) + "".join(header_line(k, v) for k, v in headers)
        return Event(name, subclass, finish_plain(text, body), uuid, seq)
