"""Channel model: legs with FreeSWITCH's basic channel data, caller profile and variables.

A :class:`Leg` keeps exactly what ``switch_channel_event_set_data`` serialises, and caches the
URL-encoded blocks (caller profile, variables) so events are cheap to render: a block is only
re-encoded after it changed.  The virtual :class:`Clock` lets scenarios advance time without
sleeping.
"""
import itertools
import threading
import time
import uuid as _uuid

from .encoding import header_line
from . import templates
from .audio import party_frequency

STATE_NUMBERS = {
    "CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8, "CS_RESET": 9,
    "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12,
}
CODECS = {"PCMU": (8000, 64000), "PCMA": (8000, 64000), "G722": (16000, 64000), "L16": (16000, 256000)}

# Caller profile fields in serialisation order (switch_caller.c); empty strings are omitted.
PROFILE_FIELDS = (
    "Direction", "Logical-Direction", "Username", "Dialplan", "Caller-ID-Name", "Caller-ID-Number",
    "Orig-Caller-ID-Name", "Orig-Caller-ID-Number", "Callee-ID-Name", "Callee-ID-Number",
    "Network-Addr", "ANI", "Destination-Number", "Unique-ID", "Source", "Transfer-Source", "Context",
    "RDNIS", "Channel-Name", "Profile-Index", "Profile-Created-Time", "Channel-Created-Time",
    "Channel-Answered-Time", "Channel-Progress-Time", "Channel-Progress-Media-Time",
    "Channel-Hangup-Time", "Channel-Transfer-Time", "Channel-Resurrect-Time", "Channel-Bridged-Time",
    "Channel-Last-Hold", "Channel-Hold-Accum", "Screen-Bit", "Privacy-Hide-Name", "Privacy-Hide-Number",
)
_TIME_FIELDS = [f for f in PROFILE_FIELDS if f.startswith("Channel-") and f != "Channel-Name"]


class Clock:
    """Virtual wall clock: real time plus whatever scenarios advanced with :meth:`advance`."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        return time.time() + self._offset

    def now_us(self):
        return int(self.now() * 1_000_000)

    def advance(self, seconds):
        with self._lock:
            self._offset += seconds


def new_uuid():
    return str(_uuid.uuid4())


_session_ids = itertools.count(1)


class Leg:
    """One FreeSWITCH channel.

    Public attributes tests may read: ``uuid``, ``name`` (Channel-Name), ``direction``,
    ``variables`` (dict, insertion ordered like FreeSWITCH's), ``profile`` (Caller-* fields),
    ``state``, ``call_state``, ``answer_state``, ``hangup_cause``, ``other`` (the leg named by
    Other-Leg-*), ``bridged_to``, ``party`` (who speaks on this leg: a user or external number),
    ``rate`` (codec sample rate).
    """

    def __init__(self, switch, name, direction, party, profile, codec="PCMU", uuid=None):
        self.switch = switch
        self.uuid = uuid or new_uuid()
        self.name = name
        self.direction = direction
        self.party = party
        self.codec = codec
        self.rate = CODECS[codec][0]
        self.state = "CS_NEW"
        self.state_number = 0
        self.call_state = "DOWN"
        self.answer_state = "ringing"
        self.hangup_cause = None
        self.hit_dialplan = direction == "inbound"
        self.presence_id = None
        self.media = False          # codecs negotiated -> Channel-*-Codec-* headers
        self.other = None           # Other-Leg-* (originator/originatee)
        self.other_type = None
        self.bridged_to = None
        self.created_us = switch.clock.now_us()
        self.profile = dict(profile)
        self.profile.setdefault("Unique-ID", self.uuid)
        self.profile.setdefault("Channel-Name", name)
        self.profile.setdefault("Profile-Index", "1")
        self.profile.setdefault("Profile-Created-Time", str(self.created_us))
        self.profile.setdefault("Channel-Created-Time", str(self.created_us))
        for f in _TIME_FIELDS:
            self.profile.setdefault(f, "0")
        for k, v in (("Screen-Bit", "true"), ("Privacy-Hide-Name", "false"), ("Privacy-Hide-Number", "false"),
                     ("Dialplan", "XML"), ("Source", "mod_sofia"), ("Direction", direction),
                     ("Logical-Direction", direction)):
            self.profile.setdefault(k, v)
        self.variables = {}
        self._var_lines = {}        # name -> encoded "variable_name: value\n" (same order)
        self._lower = {}            # lower-case name -> name (FreeSWITCH names are case-insensitive)
        self._vars_block = None
        self._profile_block = None
        self._other_block = None
        self.recordings = {}        # path -> media.Recording
        self.playback = None        # media.Playback while a broadcast plays
        self.playback_queue = []    # broadcasts waiting for the running one to end (played in turn)
        self.displaces = []         # media.Displace bugs (uuid_displace), in the order added
        self.displace_names = {}    # channel private name -> Displace (what `stop <file>` finds)
        self.session_id = next(_session_ids)
        self.dtmf_duration = 1600
        self.alive = True
        self.owner = None           # the scenario Call
        self.media_pos = 0          # samples of media clock elapsed on this leg
        self.talking = False        # the party speaks (its tone is on the read stream)
        self.freq = party_frequency(party)
        self.baseline = []          # capture variables (templates.A_LEG_VARS / B_LEG_VARS)
        self.tokens = {}            # values for the baseline's placeholders
        self.bridge_side = None     # "a" if this leg's CHANNEL_BRIDGE/UNBRIDGE events are on it
        self.dialplan_bridge = None # (data, app uuid) of a running bridge application
        self.running_app = None     # (app, data, app uuid, on_end) of an app keeping the channel
        self.answered_at = None

    # -- variables -------------------------------------------------------------------------
    def set_var(self, name, value):
        """Set (or with None/"" unset) a channel variable; a re-set variable moves to the end like in FS."""
        low = name.lower()
        old = self._lower.pop(low, None)     # re-set: removed, then appended at the end (as in FS)
        if old is not None:
            del self.variables[old]
            del self._var_lines[old]
        if value is not None and value != "":
            value = str(value)
            self.variables[name] = value
            self._var_lines[name] = header_line("variable_" + name, value)
            self._lower[low] = name
        self._vars_block = None

    def set_vars(self, pairs):
        for k, v in pairs:
            self.set_var(k, v)

    def get_var(self, name, default=None):
        """Case-insensitive like switch_channel_get_variable."""
        if name in self.variables:
            return self.variables[name]
        real = self._lower.get(name.lower())
        return self.variables[real] if real is not None else default

    def apply_baseline(self, baseline, phase, values, skip=()):
        """Copy the capture's variables of ``phase`` (see templates.py), filled with ``values``."""
        for var, tmpl, ph in baseline:
            if ph == phase and var not in skip:
                self.set_var(var, templates.fill(tmpl, values))

    def set_profile(self, **fields):
        for k, v in fields.items():
            self.profile[k.replace("_", "-")] = "" if v is None else str(v)
        self.touch_profile()

    def touch_profile(self):
        """Call after changing ``profile`` directly."""
        self._profile_block = self._other_block = None

    # -- state -------------------------------------------------------------------------------
    def set_state(self, state, number=None):
        self.state = state
        self.state_number = STATE_NUMBERS[state] if number is None else number

    @property
    def answered(self):
        return self.answer_state == "answered"

    @property
    def call_uuid(self):
        return self.variables.get("call_uuid", self.uuid)

    def rate_folder(self):
        return str(self.rate)

    # -- serialised blocks (cached) --------------------------------------------------------------
    def basic_block(self):
        """switch_channel_event_set_basic_data; cheap, not cached (state changes often)."""
        lines = [
            "Channel-State: %s\n" % self.state,
            "Channel-Call-State: %s\n" % self.call_state,
            "Channel-State-Number: %d\n" % self.state_number,
            header_line("Channel-Name", self.name),
            "Unique-ID: %s\n" % self.uuid,
            "Call-Direction: %s\n" % self.direction,
            "Presence-Call-Direction: %s\n" % self.direction,
            "Channel-HIT-Dialplan: %s\n" % ("true" if self.hit_dialplan else "false"),
        ]
        if self.presence_id:
            lines.append(header_line("Channel-Presence-ID", self.presence_id))
        lines.append("Channel-Call-UUID: %s\n" % self.call_uuid)
        lines.append("Answer-State: %s\n" % self.answer_state)
        if self.hangup_cause:
            lines.append("Hangup-Cause: %s\n" % self.hangup_cause)
        if self.media:
            rate, bitrate = CODECS[self.codec]
            for d in ("Read", "Write"):
                lines.append("Channel-%s-Codec-Name: %s\nChannel-%s-Codec-Rate: %d\n"
                             "Channel-%s-Codec-Bit-Rate: %d\n" % (d, self.codec, d, rate, d, bitrate))
        return "".join(lines)

    def profile_block(self, prefix="Caller-", index=True):
        if prefix == "Caller-" and self._profile_block is not None:
            return self._profile_block
        if prefix == "Other-Leg-" and self._other_block is not None:
            return self._other_block
        out = []
        for f in PROFILE_FIELDS:
            if f == "Profile-Index" and not index:
                continue
            v = self.profile.get(f, "")
            if v != "":
                out.append(header_line(prefix + f, v))
        block = "".join(out)
        if prefix == "Caller-":
            self._profile_block = block
        elif prefix == "Other-Leg-":
            self._other_block = block
        return block

    def other_block(self):
        o = self.other
        if o is None:
            return ""
        return "Other-Type: %s\n" % self.other_type + o.profile_block("Other-Leg-", index=False)

    def vars_block(self):
        if self._vars_block is None:
            self._vars_block = "".join(self._var_lines.values())
        return self._vars_block

    def stamp(self, field):
        """Store the current virtual time in a Caller-*-Time profile field."""
        self.profile[field] = str(self.switch.clock.now_us())
        self.touch_profile()

    def __repr__(self):
        return "<Leg %s %s %s>" % (self.uuid[:8], self.name, self.state)
