"""FreeSWITCH 1.10 Event Socket emulator for callrec's tests, demo and benchmarks.

Plain threads and blocking sockets (no gevent/asyncio): it runs inside a pytest process next
to a gevent client, or as its own process (``python -m tests.fakeswitch --port 8021``).

Quick use::

    from tests.fakeswitch import FakeSwitch
    with FakeSwitch(password="ClueCon", recordings_dir=tmp, sounds_dir=sounds) as fs:
        fs.wait_for_subscriber(timeout=5)          # the client sent its `event plain ...`
        call = fs.call_user_to_user("1000", "1001")
        call.ring(); call.answer()                 # CHANNEL_ANSWER x2, CHANNEL_BRIDGE on A
        rec = fs.wait_for_command(r"^uuid_record \\S+ start", timeout=5)
        call.talk(seconds=5)                       # virtual time: audio into recordings
        call.dtmf("a", "*44")                      # one DTMF event per digit, A-leg only
        call.hangup("b", cause="NORMAL_CLEARING")

Modules: ``encoding`` (wire format), ``templates`` (variables from a real 1.10 capture),
``model`` (legs, clock), ``events`` (header order), ``server`` (ESL protocol), ``commands``
(api), ``actions`` (channel behaviour and event order), ``media``/``audio`` (WAV, correlation),
``dialplan`` (stock dialplan call shapes), ``scenarios`` (Call/Consult behaviours), ``faults``,
``load``.  Full guide: docs/emulator.md.
"""
from .switch import CommandRecord, FakeSwitch
from .scenarios import Call, Consult
from .model import Leg
from .encoding import SHUTDOWN_NOTICE, LOST_EVENTS_NOTICE, DISCONNECT_GOODBYE

__all__ = ["FakeSwitch", "Call", "Consult", "Leg", "CommandRecord", "SHUTDOWN_NOTICE",
           "LOST_EVENTS_NOTICE", "DISCONNECT_GOODBYE"]
