"""EXPERIMENT ONLY: `python -m bench.patched [--yield-dispatch] [--fast-parse] -- <controller args>` runs the real
controller with candidate changes applied by monkeypatching, to measure what they would buy before anyone
edits controller/ (the harness runs it with env CALLREC_BENCH_PATCHES="yield,parse"). Nothing here is used in
production; the changes themselves are described in bench/RESULTS.md for the controller's owner.

* yield: the dispatcher yields to the hub after every event, so the greenlets its handlers spawned (the
  CommandSender that sends `uuid_record`) and the reader run before the next event instead of after the
  whole backlog;
* parse: headers are cut with one C-level regex pass (first occurrence wins, as now) and each value is
  URL-decoded on first access only (the handlers read ~20 of ~200 headers).
"""
from __future__ import annotations

import os
import re
import sys
import time
from urllib.parse import unquote

import gevent

_HEADER = re.compile(r"^([^:\n]+): ([^\n\r]*)\r?$", re.M)


class LazyHeaders(dict):
    """Raw values; URL-decoded on first read (an encoded newline stays inside its value)."""

    __slots__ = ()

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if "%" in value:
            value = unquote(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def parse_event_fast(body: bytes) -> dict:
    text = body.decode("utf-8", "replace")
    head, sep, rest = text.partition("\n\n")
    pairs = _HEADER.findall(head)
    pairs.reverse()  # dict(): the last pair wins, so reversed = the first occurrence wins
    headers = LazyHeaders(pairs)
    if sep and rest:
        dict.__setitem__(headers, "_body", rest)
    return headers


def _dispatch_loop_yielding(self, conn) -> None:
    from controller import esl as _esl
    queue = conn.events
    handlers = self._handlers
    metrics = self.metrics
    while True:
        event = queue.get()
        if event is None:
            return
        if self._overloaded and queue.qsize() < self.queue_size // 2:
            self._overloaded = False
            _esl.logger.warning("event queue back below %d: overload over", self.queue_size // 2)
        headers = event.headers
        name = headers.get("Event-Name", "")
        self.last_event_at = time.time()
        if not self.core_uuid or name == "HEARTBEAT":
            self.core_uuid = headers.get("Core-UUID", self.core_uuid)
        if name == "CUSTOM":
            name = headers.get("Event-Subclass", "CUSTOM")
        if metrics:
            metrics.count_event(name, queue.qsize())
        for handler in handlers.get(name) or handlers.get("*", ()):
            try:
                handler(event)
            except Exception:  # noqa: BLE001
                _esl.logger.exception("handler failed for %s", name)
        gevent.sleep(0)  # let the spawned senders and the reader run now


def apply(patches: set[str]) -> None:
    from controller import esl
    if "parse" in patches:
        esl.parse_event = parse_event_fast
    if "yield" in patches:
        esl.EslClient._dispatch_loop = _dispatch_loop_yielding


def main() -> int:
    patches = {p for p in os.environ.get("CALLREC_BENCH_PATCHES", "").split(",") if p}
    apply(patches)
    from controller.main import main as controller_main
    return controller_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
