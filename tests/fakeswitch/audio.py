"""Audio helpers (stdlib only): party signals, WAV I/O, resampling and detection by correlation.

Each party speaks a pure tone whose frequency is derived from its number
(:func:`party_frequency`), so a test can tell from a file alone who is on which channel
(:func:`tone_level`).  :func:`find` / :func:`contains` locate a reference clip (the
announcement) inside a recording by normalised cross-correlation.
"""
import math
import wave
from array import array

AMPLITUDE = 8000


def party_frequency(party):
    """Tone (Hz) that stands for ``party``'s voice: 300..1900 Hz, distinct for neighbouring numbers."""
    digits = "".join(c for c in str(party) if c.isdigit()) or "0"
    return 300 + (int(digits[-6:]) % 17) * 100


_PERIODS = {}


def tone(freq, rate, start, count, amplitude=AMPLITUDE):
    """``count`` samples of a sine tone, continuing phase from sample index ``start``.

    Tiles one cached exact period (rate / gcd(rate, freq) samples), so minutes of audio
    cost almost nothing: the emulator must not be the bottleneck of a benchmark.
    """
    key = (int(freq), rate, amplitude)
    base = _PERIODS.get(key)
    if base is None:
        period = rate // math.gcd(rate, int(freq))
        w = 2 * math.pi * freq / rate
        base = _PERIODS[key] = array("h", (int(amplitude * math.sin(w * i)) for i in range(period)))
    period = len(base)
    off = start % period
    reps = (off + count) // period + 1
    return (base * reps)[off:off + count]


def silence(count):
    return array("h", bytes(2 * count))


def read_wav(path):
    """-> (rate, channels, [array('h') per channel])."""
    with wave.open(path, "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if width != 2:
            raise ValueError("only 16-bit WAV supported: %s" % path)
        data = array("h", w.readframes(w.getnframes()))
    return rate, ch, [data[i::ch] for i in range(ch)]


def write_wav(path, rate, channels):
    """Write 16-bit PCM; ``channels`` is a list of equal-length arrays."""
    n = len(channels)
    if n == 1:
        inter = channels[0]
    else:
        inter = array("h", bytes(2 * n * len(channels[0])))
        for i, c in enumerate(channels):
            inter[i::n] = c
    with wave.open(path, "wb") as w:
        w.setnchannels(n)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(inter.tobytes())


def resample(samples, src_rate, dst_rate):
    """Linear-interpolation resampler; enough for tones and test clips."""
    if src_rate == dst_rate or not samples:
        return array("h", samples)
    n = int(len(samples) * dst_rate / src_rate)
    step = src_rate / dst_rate
    out = array("h", bytes(2 * n))
    last = len(samples) - 1
    for i in range(n):
        x = i * step
        j = int(x)
        f = x - j
        a = samples[j]
        b = samples[j + 1] if j < last else a
        out[i] = int(a + (b - a) * f)
    return out


def mix(a, b):
    return array("h", (max(-32768, min(32767, x + y)) for x, y in zip(a, b)))


def load_mono(path, rate=None):
    """A WAV as one mono array (channels averaged), optionally resampled to ``rate``."""
    src_rate, ch, chans = read_wav(path)
    if ch == 1:
        mono = chans[0]
    else:
        mono = array("h", (int(sum(s) / ch) for s in zip(*chans)))
    if rate and rate != src_rate:
        mono = resample(mono, src_rate, rate)
    return mono, rate or src_rate


def _envelope(x, block):
    return [math.sqrt(sum(v * v for v in x[i:i + block]) / block) for i in range(0, len(x) - block + 1, block)]


def _pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    da = math.sqrt(sum((x - ma) ** 2 for x in a))
    db = math.sqrt(sum((y - mb) ** 2 for y in b))
    return num / (da * db) if da and db else 0.0


def _ncc(x, ref, off):
    n = len(ref)
    seg = x[off:off + n]
    num = sum(a * b for a, b in zip(seg, ref))
    e = math.sqrt(sum(a * a for a in seg)) * math.sqrt(sum(b * b for b in ref))
    return num / e if e else 0.0


def _score(x, ref, off):
    """Normalised correlation, or the clip's gain in the segment when higher.

    The gain (projection of the segment on the clip, ``<seg, ref> / <ref, ref>``, capped at 1)
    is ~1 when the clip's own samples were *mixed* into louder audio (a ``uuid_displace ... m``
    over a talking party: the correlation alone drops to ~0.4 for a quiet announcement) and ~0
    for audio unrelated to the clip, whatever its level."""
    n = len(ref)
    seg = x[off:off + n]
    num = sum(a * b for a, b in zip(seg, ref))
    rr = sum(b * b for b in ref)
    ss = sum(a * a for a in seg)
    ncc = num / math.sqrt(ss * rr) if ss and rr else 0.0
    gain = min(1.0, num / rr) if rr else 0.0
    return max(ncc, gain)


def find(wav_path, reference_path, channel=None, threshold=0.5):
    """Offset in seconds where ``reference_path`` occurs in ``wav_path``, or None.

    Normalised cross-correlation of the samples (the reference resampled to the recording's
    rate), searched on each channel or only ``channel``.  To stay fast in pure Python the
    search is coarse-to-fine: 10 ms energy envelopes locate candidates, then sample-exact
    correlation around them; the score at the best offset is the full-length correlation
    (1.0 = identical samples; a clip mixed with a talker of equal level scores ~0.7), or the
    clip's gain in the segment if higher (~1.0 for a clip mixed at full level into any
    louder audio, see :func:`_score`).
    """
    rate, ch, chans = read_wav(wav_path)
    ref, _ = load_mono(reference_path, rate)
    block = max(1, rate // 100)
    if len(ref) < 2 * block:
        return None
    ref_env = _envelope(ref, block)
    win = ref[: min(len(ref), rate // 8)]
    best = (0.0, None)
    for c in ([channel] if channel is not None else range(ch)):
        x = chans[c]
        if len(x) < len(ref):
            continue
        env = _envelope(x, block)
        m = len(ref_env)
        cands = sorted(((_pearson(env[i:i + m], ref_env), i) for i in range(len(env) - m + 1)),
                       reverse=True)[:3]
        for _, i in cands:
            lo, hi = max(0, (i - 1) * block), min(len(x) - len(ref), (i + 1) * block)
            off = max(range(lo, hi + 1), key=lambda o: _ncc(x, win, o))
            score = _score(x, ref, off)
            if score > best[0]:
                best = (score, off)
    if best[1] is not None and best[0] >= threshold:
        return best[1] / rate
    return None


def contains(wav_path, reference_path, channel=None, threshold=0.5):
    """True when the recording holds the reference clip's samples (see :func:`find`)."""
    return find(wav_path, reference_path, channel, threshold) is not None


def tone_level(wav_path, freq, channel=0, start=0.0, seconds=None):
    """Relative power (0..1) of ``freq`` in a channel segment (Goertzel), ~1 for a pure tone."""
    rate, ch, chans = read_wav(wav_path)
    x = chans[channel][int(start * rate):]
    if seconds is not None:
        x = x[: int(seconds * rate)]
    n = len(x)
    if not n:
        return 0.0
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    total = sum(v * v for v in x) * n / 2
    return power / total if total else 0.0


def make_announcement(path, rate=8000, seconds=1.0, seed=7):
    """Write a mono clip that looks like speech to a correlator (pseudo-random, band limited).

    Tests use it instead of the project's sound files; deterministic for a given seed.
    """
    import random

    rnd = random.Random(seed)
    n = int(rate * seconds)
    raw = [rnd.uniform(-1, 1) for _ in range(n)]
    smooth = array("h", bytes(2 * n))
    acc = 0.0
    syllable = rate // 10
    gains = [rnd.choice((0.15, 0.5, 1.0)) for _ in range(n // syllable + 1)]
    for i, v in enumerate(raw):
        acc = 0.6 * acc + 0.4 * v        # low-pass: speech-like, unlike any party tone
        smooth[i] = int(16000 * acc * gains[i // syllable])  # syllable envelope for the coarse search
    write_wav(path, rate, [smooth])
    return path
