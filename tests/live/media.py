"""What a phone sends (RTP pcaps sipp replays) and what a recording holds (WAV analysis), for the live tier.

Each party talks in its own tone, so a stereo recording shows which party is on which channel; codes go out as
RFC 4733 telephone-events in the same RTP stream (same SSRC, continuing sequence numbers), as a phone sends them.
"""
from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
PACKET_MS = 20
SAMPLES_PER_PACKET = RATE * PACKET_MS // 1000
PCMU, TELEPHONE_EVENT = 0, 101
EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}
KEY_MS, KEY_GAP_MS = 100, 120


# ------------------------------------------------------------------------------------------- sending
def ulaw(samples: np.ndarray) -> bytes:
    """G.711 µ-law (the reference encoder's segment arithmetic, vectorised)."""
    x = np.clip(samples.astype(np.int32), -32635, 32635)
    sign = np.where(x < 0, 0x7F, 0xFF)
    x = np.abs(x) + 0x84
    exponent = np.floor(np.log2(x)).astype(np.int32) - 7
    mantissa = (x >> (exponent + 3)) & 0x0F
    return ((sign & ~((exponent << 4) | mantissa)) & 0xFF).astype(np.uint8).tobytes()


def tone(freq: float, seconds: float, amplitude: int = 6000) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@dataclass(frozen=True)
class Keys:
    """DTMF keys pressed `at` seconds after the phone starts sending."""

    at: float
    code: str


STEP_SECONDS, RAMP_START_HZ, RAMP_STEP_HZ = 0.1, 400.0, 100.0


def ramp(seconds: float) -> np.ndarray:
    """A tone that rises RAMP_STEP_HZ every STEP_SECONDS: its first frequency in a file says when the file began."""
    steps = [tone(RAMP_START_HZ + RAMP_STEP_HZ * (i % 30), STEP_SECONDS) for i in range(int(seconds / STEP_SECONDS))]
    return np.concatenate(steps)


def ramp_time(frequency: float) -> float:
    """Seconds into the ramp at which it sounds at `frequency`."""
    return (frequency - RAMP_START_HZ) / RAMP_STEP_HZ * STEP_SECONDS


def phone_pcap(path: Path, freq: float, seconds: float, keys: tuple[Keys, ...] = (), ssrc: int = 0x0CA11EC0,
               audio: np.ndarray | None = None) -> Path:
    """A pcap of `seconds` of the party's tone (or `audio`) with RFC 4733 events for `keys` in place of audio."""
    events: dict[int, tuple[int, int, int]] = {}  # packet index -> (event, duration so far, end flag)
    event_starts: dict[int, int] = {}
    for press in keys:
        index = int(round(press.at * 1000 / PACKET_MS))
        for key in press.code:
            event = EVENT_CODES[key]
            held = KEY_MS // PACKET_MS
            for i in range(held):
                events[index + i] = (event, (i + 1) * SAMPLES_PER_PACKET, 0)
            for i in range(3):  # RFC 4733 2.5.1.4: the end packet three times
                events[index + held + i] = (event, held * SAMPLES_PER_PACKET, 1)
            event_starts[index] = index
            index += (KEY_MS + KEY_GAP_MS) // PACKET_MS
    if audio is None:
        audio = tone(freq, seconds)
    packets, seq, ts = [], 1000, 160_000
    event_ts = ts
    for n in range(int(seconds * 1000 / PACKET_MS)):
        if n in events:
            if n in event_starts:
                event_ts = ts
            event, duration, end = events[n]
            header = struct.pack("!BBHII", 0x80, (0x80 if n in event_starts else 0) | TELEPHONE_EVENT,
                                 seq & 0xFFFF, event_ts & 0xFFFFFFFF, ssrc)
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
        else:
            header = struct.pack("!BBHII", 0x80, PCMU, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            payload = ulaw(audio[n * SAMPLES_PER_PACKET:(n + 1) * SAMPLES_PER_PACKET])
        packets.append((n * PACKET_MS / 1000, header + payload))
        seq += 1
        ts += SAMPLES_PER_PACKET
    _write_pcap(path, packets)
    return path


def _write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for ident, (time_s, rtp) in enumerate(packets):
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip_fields = [0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, 64, 17, 0, bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])]
        words = struct.unpack("!10H", struct.pack("!BBHHHBBH4s4s", *ip_fields))
        total = sum(words)
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        ip_fields[7] = ~total & 0xFFFF
        frame = bytes.fromhex("020000000002020000000001") + b"\x08\x00" + struct.pack("!BBHHHBBH4s4s", *ip_fields) + udp
        seconds = int(time_s)
        micros = int(round((time_s - seconds) * 1_000_000))
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


# ----------------------------------------------------------------------------------------- analysing
@dataclass
class Recording:
    rate: int
    channels: list[np.ndarray]

    @property
    def seconds(self) -> float:
        return len(self.channels[0]) / self.rate if self.channels else 0.0

    @classmethod
    def read(cls, path: Path) -> "Recording":
        with wave.open(str(path), "rb") as w:
            rate, nch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
        assert width == 2, f"{path}: {8 * width}-bit samples, expected 16-bit"
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
        return cls(rate, [data[c::nch] for c in range(nch)])

    def tone_share(self, channel: int, freq: float, start: float = 0.0, seconds: float | None = None) -> float:
        """Share (0..1) of the segment's energy at `freq` (±25 Hz)."""
        x = self.channels[channel][int(start * self.rate):]
        if seconds is not None:
            x = x[:int(seconds * self.rate)]
        if len(x) < self.rate // 10:
            return 0.0
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / self.rate)
        total = spectrum.sum()
        return float(spectrum[np.abs(freqs - freq) <= 25].sum() / total) if total else 0.0

    def first_sound(self, channel: int, freq: float, block: float = 0.02, share: float = 0.5) -> float | None:
        """Seconds from the file's start to the first block that is mostly `freq` (None if never)."""
        n = int(block * self.rate)
        x = self.channels[channel]
        for i in range(0, len(x) - n, n):
            segment = x[i:i + n]
            if np.sqrt(np.mean(segment ** 2)) > 300 and self.tone_share_of(segment, freq) >= share:
                return i / self.rate
        return None

    def dominant_frequency(self, channel: int, start: float, seconds: float) -> float:
        x = self.channels[channel][int(start * self.rate):int((start + seconds) * self.rate)]
        spectrum = np.abs(np.fft.rfft(x, n=8192))
        return float(np.fft.rfftfreq(8192, 1 / self.rate)[int(np.argmax(spectrum))])

    def first_audio(self, channel: int, level: float = 300.0) -> float | None:
        """Seconds into the file of the first 10 ms that is not silence."""
        n = self.rate // 100
        x = self.channels[channel]
        for i in range(0, len(x) - n, n):
            if np.sqrt(np.mean(x[i:i + n] ** 2)) > level:
                return i / self.rate
        return None

    def tone_share_of(self, segment: np.ndarray, freq: float) -> float:
        spectrum = np.abs(np.fft.rfft(segment, n=max(len(segment), 1024))) ** 2
        freqs = np.fft.rfftfreq(max(len(segment), 1024), 1 / self.rate)
        total = spectrum.sum()
        return float(spectrum[np.abs(freqs - freq) <= 60].sum() / total) if total else 0.0

    def find_all(self, channel: int, reference: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
        """Every place (seconds, score) the reference clip occurs on a channel, by normalised cross-correlation.

        The channel is filtered of the parties' tones first (a notch per FFT bin would be overkill): the score is
        computed on the high-passed signal against the high-passed reference, which keeps speech and drops the
        low, steady party tones.
        """
        x = _highpass(self.channels[channel], self.rate)
        ref = _highpass(reference, self.rate)
        n = len(ref)
        if len(x) < n:
            return []
        size = 1 << int(np.ceil(np.log2(len(x) + n)))
        corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(ref, size)), size)[:len(x) - n + 1]
        energy = np.sqrt(np.convolve(x ** 2, np.ones(n), "valid")) * np.sqrt((ref ** 2).sum())
        score = np.divide(corr, energy, out=np.zeros_like(corr), where=energy > 0)
        found: list[tuple[float, float]] = []
        order = np.argsort(score)[::-1]
        for index in order:
            if score[index] < threshold:
                break
            if all(abs(index / self.rate - at) > n / self.rate / 2 for at, _ in found):
                found.append((index / self.rate, float(score[index])))
        return sorted(found)


def _highpass(x: np.ndarray, rate: int, cutoff: float = 1500.0) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / rate) < cutoff] = 0
    return np.fft.irfft(spectrum, len(x))


def load_reference(path: Path) -> np.ndarray:
    rec = Recording.read(path)
    assert rec.rate == RATE and len(rec.channels) == 1, f"{path}: expected 8 kHz mono"
    return rec.channels[0]
