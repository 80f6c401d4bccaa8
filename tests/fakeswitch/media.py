"""Media of the emulator: recordings (media bugs) and playbacks, driven by virtual time.

A leg's *read* stream is what its phone sends (its party's tone while talking), its *write*
stream what FreeSWITCH sends to the phone: the bridged peer's voice, or a playback's samples
while a ``uuid_broadcast`` plays on that leg (playback replaces the bridged audio).
A stereo recording is read on the left, write on the right; mono mixes both, like
FreeSWITCH's recording media bug.  Masked periods are silence.
"""
import logging
import os
from array import array

from . import audio

log = logging.getLogger(__name__)


class Recording:
    """One ``uuid_record`` media bug on a leg, writing a real WAV at ``path``."""

    def __init__(self, leg, path, limit=0, rec_vars=None):
        self.leg = leg
        self.path = path
        self.limit = int(limit or 0)
        self.rec_vars = dict(rec_vars or {})
        self.stereo = self._flag("RECORD_STEREO")
        self.rate = int(self.var("record_sample_rate") or leg.rate)
        self.masked = False
        self.left = array("h")
        self.right = array("h")
        self.prior = 0                 # samples carried over from an appended file
        append = self._flag("RECORD_APPEND")
        if append and os.path.exists(path):
            try:
                rate, ch, chans = audio.read_wav(path)
                if rate == self.rate:
                    self.stereo = ch == 2
                    self.left = chans[0]
                    self.right = chans[1] if ch == 2 else array("h", bytes(2 * len(chans[0])))
                    self.prior = len(self.left)
            except (OSError, EOFError, ValueError) as exc:
                log.warning("cannot append to %s: %s", path, exc)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.flush()

    def var(self, name):
        """Recording variables override channel variables (names case-insensitive)."""
        low = name.lower()
        for k, v in self.rec_vars.items():
            if k.lower() == low:
                return v
        return self.leg.get_var(name)

    def _flag(self, name):
        return str(self.var(name) or "").lower() in ("true", "yes", "on", "1")

    @property
    def samples(self):
        """Samples recorded by this bug (not counting an appended file's earlier content)."""
        return len(self.left) - self.prior

    def feed(self, read, write):
        if self.masked:
            read = write = audio.silence(len(read))
        self.left.extend(read)
        self.right.extend(write)

    def remaining(self):
        """Samples left before the limit (None = unlimited)."""
        if not self.limit:
            return None
        return max(0, self.limit * self.rate - self.samples)

    def flush(self):
        if self.stereo:
            chans = [self.left, self.right]
        else:
            chans = [audio.mix(self.left, self.right)]
        tmp = self.path + ".part"
        audio.write_wav(tmp, self.rate, chans)
        os.replace(tmp, self.path)

    def stop_vars(self):
        """Channel variables FreeSWITCH sets before RECORD_STOP."""
        ms = self.samples * 1000 // self.rate
        size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        return [("record_file_size", size), ("record_samples", self.samples),
                ("record_seconds", ms // 1000), ("record_ms", ms),
                ("record_completion_cause", "success-maxtime")]


class Playback:
    """A file playing on one leg (from ``uuid_broadcast``), or an endless stream (hold music:
    ``samples=None`` and a ``stream_freq`` tone) that only stops when broken."""

    def __init__(self, leg, path, samples, app_uuid, stream_freq=None):
        self.leg = leg
        self.path = path
        self.file = path
        self.samples = samples         # at the leg's rate
        self.stream_freq = stream_freq
        self.pos = 0
        self.app_uuid = app_uuid
        self.order = 0

    def take(self, n):
        if self.samples is None:
            chunk = audio.tone(self.stream_freq, self.leg.rate, self.pos, n, amplitude=2000)
            self.pos += n
            return chunk
        chunk = self.samples[self.pos:self.pos + n]
        self.pos += len(chunk)
        if len(chunk) < n:
            chunk.extend(audio.silence(n - len(chunk)))
        return chunk

    @property
    def left(self):
        if self.samples is None:
            return float("inf")
        return len(self.samples) - self.pos


def resolve_sound(path, rate):
    """FreeSWITCH's rate folder: ``<dir>/<file>`` or else ``<dir>/<rate>/<file>`` (None if missing)."""
    if os.path.isfile(path):
        return path
    d, f = os.path.split(path)
    alt = os.path.join(d, str(rate), f)
    if os.path.isfile(alt):
        return alt
    return None


def leg_streams(leg, n):
    """(read, write) sample arrays of ``leg`` for the next ``n`` samples at its codec rate."""
    pos = leg.media_pos
    read = audio.tone(leg.freq, leg.rate, pos, n) if leg.talking and leg.answered else audio.silence(n)
    if leg.playback is not None:
        write = leg.playback.take(n)
    else:
        peer = leg.bridged_to
        if peer is not None and peer.talking and peer.answered:
            write = audio.tone(peer.freq, leg.rate, pos, n)
        else:
            write = audio.silence(n)
    return read, write


def at_rate(samples, src, dst):
    return samples if src == dst else audio.resample(samples, src, dst)
