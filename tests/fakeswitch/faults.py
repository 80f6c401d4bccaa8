"""Fault injection: delayed or failed replies, drops on command, fragmented writes.

Delays use ``threading.Event.wait(timeout)`` on the connection's reader thread, i.e. the
emulated switch is busy executing the api, exactly where FreeSWITCH would be.
"""
import logging
import re
import threading

from . import commands

log = logging.getLogger(__name__)


class Faults:
    def __init__(self, switch):
        self.switch = switch
        self.fragment = 0
        self._lock = threading.Lock()
        self._delays = []      # [pattern, seconds, count]
        self._failures = []    # [pattern, reply, count]
        self._drops = []       # [pattern, notice]
        self.wake = threading.Event()   # set to cut every pending delay short

    def add_delay(self, pattern, seconds, count):
        with self._lock:
            self._delays.append([re.compile(pattern), seconds, count])

    def add_failure(self, pattern, reply, count):
        with self._lock:
            self._failures.append([re.compile(pattern), reply, count])

    def add_drop(self, pattern, notice):
        with self._lock:
            self._drops.append([re.compile(pattern), notice])

    @staticmethod
    def _take(items, line):
        for item in items:
            if item[0].search(line):
                if len(item) == 3:
                    item[2] -= 1
                    if item[2] <= 0:
                        items.remove(item)
                else:
                    items.remove(item)
                return item
        return None

    def before_reply(self, conn, rec):
        """Runs on the connection's reader thread before the command executes."""
        with self._lock:
            drop = self._take(self._drops, rec.line)
            delay = self._take(self._delays, rec.line)
        if drop is not None:
            log.info("fault: dropping conn %d on %r", conn.id, rec.line)
            conn.close(notice=drop[1], abrupt=drop[1] is None)
            return
        if delay is not None:
            log.info("fault: delaying %r by %.2fs", rec.line, delay[1])
            self.wake.wait(delay[1])

    def override(self, rec):
        """Reply text replacing the command's real output, or None."""
        with self._lock:
            fail = self._take(self._failures, rec.line)
        if fail is None:
            return None
        return fail[1] if fail[1] is not None else commands.error_for(rec.line)

    def write(self, conn, frame):
        """Write one frame to the client socket, fragmented if asked to."""
        size = self.fragment
        if not size:
            conn.sock.sendall(frame)
            return
        for i in range(0, len(frame), size):
            conn.sock.sendall(frame[i:i + size])
