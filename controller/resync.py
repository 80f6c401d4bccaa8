"""After every (re)connection: learn the live calls again so a call in progress keeps exactly one recording.

1. `show channels as json` lists the live channels, `uuid_dump <uuid> json` gives each one's variables;
2. Recording rows still in status `recording` are matched to the live legs (kept as recording) or, when their
   channel is gone (the call ended while we were away, or FreeSWITCH restarted), finalised and delivered;
3. legs we tracked before the loss that are gone are finalised the same way;
4. live bridged pairs go through the ordinary bridge decision, which starts nothing for a leg and account that
   already record. Our file names are deterministic (call UUID + account), so even a recording FreeSWITCH
   started but the database never heard of is only re-requested with the same path, which FreeSWITCH answers
   with "+OK" and no second recording.
"""
from __future__ import annotations

import json
import logging
import time

from .decisions import Finalise, decide_hangup
from .esl import EslConnection, EslError
from .facts import leg_facts
from .recorder import CallRecording, CommandSender, dump_channel
from .store import DB_DOWN_ERRORS, Store
from .tracker import OwnRecording, Tracker

logger = logging.getLogger(__name__)


class Resync:
    def __init__(self, esl, tracker: Tracker, store: Store, sender: CommandSender, calls: CallRecording):
        self.esl, self.tracker, self.store, self.sender, self.calls = esl, tracker, store, sender, calls
        self.runs = 0

    def __call__(self, conn: EslConnection) -> None:
        try:
            reply = conn.api("show channels as json")
        except EslError as exc:
            logger.error("resync: cannot list channels: %s", exc)
            return
        try:
            data = json.loads(reply) if reply.strip() else {}
        except ValueError:
            logger.error("resync: malformed `show channels` reply: %r", reply[:200])
            return
        rows = data.get("rows") or [] if isinstance(data, dict) else []
        live: dict[str, dict[str, str]] = {}
        for row in rows:
            uuid = row.get("uuid") if isinstance(row, dict) else None
            if not uuid:
                continue
            headers = dump_channel(self.esl, uuid)
            if headers:
                live[uuid] = headers
                self.tracker.observe(leg_facts(headers))

        kept = finalised = 0
        try:
            open_rows = self.store.call(Store.open_recordings)
        except DB_DOWN_ERRORS as exc:
            logger.error("resync: database unavailable (%s); open recordings are checked on the next resync",
                         str(exc).splitlines()[0])
            open_rows = []
        for row in open_rows:
            if row["leg_uuid"] in live:
                leg = self.tracker.leg(row["leg_uuid"])
                if row["account"] not in leg.recordings:
                    # a controller restarted mid-pause: the file is still masked; the resume code must unmask it
                    pauses = row.get("pauses", ())
                    leg.recordings[row["account"]] = OwnRecording(
                        row["account"], row["call_key"], row["path"], row["direction"], row["trigger"],
                        active=True, confirmed=True, pauses=pauses, paused=bool(pauses) and not pauses[-1][1])
                self.tracker.keys[(row["call_key"], row["account"])] = row["leg_uuid"]
                kept += 1
            else:
                known = self.tracker.get(row["leg_uuid"])
                if known is not None and row["account"] in known.recordings:
                    continue  # finalised below with the rest of that leg
                logger.info("call %s: leg %s ended while we were away; finalising the recording of account %s",
                            row["call_key"], row["leg_uuid"], row["account"])
                self.sender.apply([Finalise(row["leg_uuid"], row["call_key"], row["account"], row["path"])])
                finalised += 1

        now = time.monotonic()
        for uuid in [u for u in self.tracker.legs if u not in live]:
            leg = self.tracker.hangup(uuid, now)
            if leg is not None and leg.recordings:
                logger.info("call leg %s ended while we were away; finalising its recordings", uuid)
                finalised += len(leg.recordings)
                self.sender.apply(decide_hangup(leg))

        pairs = set()
        for uuid, headers in live.items():
            partner = headers.get("variable_bridge_uuid") or headers.get("variable_signal_bond") or ""
            if partner in live and headers.get("Answer-State") == "answered":
                a, b = (uuid, partner) if headers.get("Channel-Call-UUID", uuid) == uuid else (partner, uuid)
                pairs.add((a, b))
        for a, b in sorted(pairs):
            self.calls._bridge(a, b)
        self.runs += 1
        logger.info("resync: %d live channel(s), %d bridged pair(s), %d recording(s) kept, %d finalised",
                    len(live), len(pairs), kept, finalised)
