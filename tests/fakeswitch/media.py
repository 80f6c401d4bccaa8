"""Media of the emulator: recordings (media bugs) and playbacks, driven by virtual time.

A leg's *read* stream is what its phone sends (its party's tone while talking), its *write*
stream what FreeSWITCH sends to the phone: the bridged peer's read stream, or a playback's
samples while a ``uuid_broadcast`` plays on that leg (playback replaces the bridged audio).
A stereo recording is read on the left, write on the right; mono mixes both, like
FreeSWITCH's recording media bug.  Masked periods are silence.

``uuid_displace`` is a media bug too (switch_ivr_async.c), applied the way switch_core_io.c
runs bugs: on the READ side every bug's READ_REPLACE runs first and the recordings' taps after
(two passes), so a read displace is in every recording of that leg whatever their order, and
in what the bridged peer hears (its write stream is this read stream); on the WRITE side bugs
run once, in the order they were added, so a recording only contains a write displace added
before it.  ``m`` (mux) mixes the file in; without it the file replaces that direction and
the other direction is blanked (FreeSWITCH memsets it to 0xff bytes, i.e. -1: silence).
"""
import itertools
import logging
import os
from array import array

from . import audio

log = logging.getLogger(__name__)

_bug_order = itertools.count(1)   # media bugs of a leg run in the order they were added


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
        self.order = next(_bug_order)
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


class Displace:
    """One ``uuid_displace <uuid> start <file> [limit] [flags]`` media bug on a leg.

    ``key`` is the name FreeSWITCH stores the bug under (channel private = the file after the
    sound prefix and extension were applied); ``read`` = flag ``r``, ``mux`` = ``m``,
    ``loop`` = ``l``; ``limit`` seconds (0 = until the file ends)."""

    def __init__(self, leg, key, file, samples, limit=0, flags=""):
        flags = flags or ""
        self.leg = leg
        self.key = key
        self.file = file
        self.samples = samples         # at the leg's rate
        self.read = "r" in flags
        self.mux = "m" in flags
        self.loop = "l" in flags
        self.max_samples = int(limit) * leg.rate if limit and int(limit) > 0 else None
        self.pos = 0                   # position in the file
        self.played = 0                # samples produced (for the limit)
        self.order = next(_bug_order)

    def take(self, n):
        """Up to ``n`` samples of the file (fewer at its end or at the limit)."""
        if self.max_samples is not None:
            n = max(0, min(n, self.max_samples - self.played))
        total = len(self.samples)
        if not total:
            return array("h")
        if self.loop:
            out = array("h")
            while len(out) < n:
                part = self.samples[self.pos:self.pos + n - len(out)]
                out.extend(part)
                self.pos = (self.pos + len(part)) % total
        else:
            out = self.samples[self.pos:self.pos + n]
            self.pos += len(out)
        self.played += len(out)
        return out

    @property
    def left(self):
        """Samples until the bug ends (None: loops without a limit)."""
        ends = []
        if self.max_samples is not None:
            ends.append(self.max_samples - self.played)
        if not self.loop:
            ends.append(len(self.samples) - self.pos)
        return max(0, min(ends)) if ends else None

    @property
    def done(self):
        """The bug is removed: file ended (no ``l``) or limit reached."""
        if self.max_samples is not None and self.played >= self.max_samples:
            return True
        return not self.samples or (not self.loop and self.pos >= len(self.samples))


def resolve_sound(path, rate):
    """mod_sndfile's rate folder: ``<dir>/<rate>/<file>`` first, else ``<dir>/<file>`` (None if
    neither exists): a path without the rate folder plays the file of the call's rate."""
    d, f = os.path.split(path)
    alt = os.path.join(d, str(rate), f)
    if os.path.isfile(alt):
        return alt
    if os.path.isfile(path):
        return path
    return None


def read_ops(leg, n):
    """The READ_REPLACE pass of ``leg``'s displace bugs for the next ``n`` samples: a list of
    ("mix"|"replace", samples at the leg's rate).  Takes the samples (call once per step)."""
    ops = []
    for d in leg.displaces:
        if d.read:
            ops.append(("mix" if d.mux else "replace", d.take(n)))
        elif not d.mux:
            ops.append(("replace", audio.silence(n)))   # a write displace blanks the read side
    return ops


def apply_ops(base, ops, src_rate, dst_rate):
    """``base`` (at ``dst_rate``) with the read ops of a leg running at ``src_rate``."""
    out = base
    n = len(base)
    for kind, chunk in ops:
        chunk = at_rate(chunk, src_rate, dst_rate)[:n]
        k = len(chunk)
        if not k:
            continue
        if kind == "mix":
            out = audio.mix(out[:k], chunk) + out[k:]
        else:
            out = array("h", chunk) + out[k:]
    return out


def leg_streams(leg, n, ops=None):
    """(read, write) sample arrays of ``leg`` for the next ``n`` samples at its codec rate, the
    read side after its displaces' READ_REPLACE pass (``ops``: leg -> :func:`read_ops`), the
    write side before any write bug (see :func:`write_bugs`)."""
    pos = leg.media_pos
    read = audio.tone(leg.freq, leg.rate, pos, n) if leg.talking and leg.answered else audio.silence(n)
    if ops and leg in ops:
        read = apply_ops(read, ops[leg], leg.rate, leg.rate)
    if leg.playback is not None:
        write = leg.playback.take(n)
    else:
        peer = leg.bridged_to
        if peer is not None and peer.talking and peer.answered:
            write = audio.tone(peer.freq, leg.rate, pos, n)
        else:
            write = audio.silence(n)
        if peer is not None and ops and peer in ops:   # what the peer's phone sends, displaced
            write = apply_ops(write, ops[peer], peer.rate, leg.rate)
    return read, write


def write_bugs(leg, read, write):
    """The WRITE pass, one bug after the other in the order they were added: each recording
    taps the write stream as the bugs before it left it.  -> [(recording, read, write)]."""
    n = len(write)
    bugs = sorted(list(leg.recordings.values()) + [d for d in leg.displaces if not (d.read and d.mux)],
                  key=lambda b: b.order)
    out = []
    for b in bugs:
        if isinstance(b, Recording):
            out.append((b, read, write))
        elif b.read:                       # read displace without mux: the write side is blanked
            write = audio.silence(n)
        elif b.mux:
            chunk = b.take(n)
            write = audio.mix(write[:len(chunk)], chunk) + write[len(chunk):]
        else:
            chunk = b.take(n)
            write = array("h", chunk) + audio.silence(n - len(chunk))
    return out


def at_rate(samples, src, dst):
    return samples if src == dst else audio.resample(samples, src, dst)
