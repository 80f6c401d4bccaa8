#!/usr/bin/env python3
"""Write the RFC 2833 (RFC 4733) DTMF packets that sipp plays for the start and stop codes.

sipp's `play_pcap_audio` replays the UDP payloads of a pcap file to the far end's RTP port. Debian's
sip-tester ships one pcap per digit, but all of them start with the same RTP sequence number and
timestamp, and a receiver (FreeSWITCH included) takes a repeated digit with the same timestamp for a
retransmission of the same key press: the second 4 of *44 would be lost. So vm-smoke.sh generates one
file per code, with one event per digit, strictly increasing sequence numbers and a new timestamp per
digit, the stop code continuing where the start code ended.

    make_dtmf_pcap.py OUTDIR START_CODE STOP_CODE   ->  OUTDIR/dtmf_start.pcap, OUTDIR/dtmf_stop.pcap

Standard library only: it runs on the VM's system python3.
"""

import struct
import sys
from pathlib import Path

EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}
PAYLOAD_TYPE = 101  # telephone-event, as offered in the scenarios' SDP
CLOCK_RATE = 8000
PACKET_MS = 20  # one update packet per 20 ms, like a phone
TONE_MS = 100  # how long each key is "held"
GAP_MS = 120  # silence between keys: well inside any inter-digit timeout
END_PACKETS = 3  # RFC 4733 2.5.1.4: the end packet is sent three times
VOLUME = 10  # -10 dBm0
SSRC = 0x0CA11EC0
# Where the stop code's RTP clock starts relative to the start code's, in seconds: roughly the time the
# scenario waits between the two codes. The exact value does not matter, only that it moves forward.
STOP_CODE_OFFSET_S = 8

# Addresses in the pcap are placeholders: sipp rewrites ports and sends to the negotiated media address.
SRC_MAC, DST_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
SRC_IP, DST_IP = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
SRC_PORT, DST_PORT = 6000, 6000


def rtp_event_packets(code, first_seq, first_ts, start_time=0.0):
    """Return [(time_s, rtp_bytes)] for `code`, one RFC 4733 event per key, and the next (seq, ts, time)."""
    packets = []
    seq, ts, now = first_seq, first_ts, start_time
    for key in code:
        event = EVENT_CODES[key]
        tone_samples = CLOCK_RATE * TONE_MS // 1000
        step = CLOCK_RATE * PACKET_MS // 1000
        durations = list(range(step, tone_samples + 1, step))
        for index, duration in enumerate(durations):
            marker = index == 0  # the marker bit flags the first packet of a new event
            packets.append((now, _rtp(seq, ts, marker, event, end=False, duration=duration)))
            seq, now = seq + 1, now + PACKET_MS / 1000
        for _ in range(END_PACKETS):
            packets.append((now, _rtp(seq, ts, False, event, end=True, duration=tone_samples)))
            seq = seq + 1
        now += GAP_MS / 1000
        ts += CLOCK_RATE * (TONE_MS + GAP_MS) // 1000
    return packets, (seq, ts, now)


def _rtp(seq, ts, marker, event, end, duration):
    header = struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC
    )
    payload = struct.pack("!BBH", event, (0x80 if end else 0) | VOLUME, duration)
    return header + payload


def write_pcap(path, packets):
    """Write `packets` ([(time_s, rtp_bytes)]) as an Ethernet/IPv4/UDP pcap that sipp can replay."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for ident, (time_s, rtp) in enumerate(packets):
        udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, 8 + len(rtp), 0) + rtp
        ip = _ipv4_header(len(udp), ident) + udp
        frame = DST_MAC + SRC_MAC + b"\x08\x00" + ip
        seconds = int(time_s)
        micros = int(round((time_s - seconds) * 1_000_000))
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    Path(path).write_bytes(bytes(out))


def _ipv4_header(payload_len, ident):
    fields = [0x45, 0, 20 + payload_len, ident & 0xFFFF, 0, 64, 17, 0, SRC_IP, DST_IP]
    header = struct.pack("!BBHHHBBH4s4s", *fields)
    words = struct.unpack("!10H", header)
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    fields[7] = ~total & 0xFFFF
    return struct.pack("!BBHHHBBH4s4s", *fields)


def write_code_pcaps(outdir, start_code, stop_code):
    """Write dtmf_start.pcap and dtmf_stop.pcap into `outdir`; return their paths."""
    for code in (start_code, stop_code):
        if not code or any(key not in EVENT_CODES for key in code):
            raise ValueError(f"not a DTMF code: {code!r} (digits, *, #, A-D)")
    outdir = Path(outdir)
    start_packets, (seq, ts, _) = rtp_event_packets(start_code, first_seq=1000, first_ts=160_000)
    stop_packets, _ = rtp_event_packets(stop_code, first_seq=seq, first_ts=ts + CLOCK_RATE * STOP_CODE_OFFSET_S)
    paths = outdir / "dtmf_start.pcap", outdir / "dtmf_stop.pcap"
    write_pcap(paths[0], start_packets)
    write_pcap(paths[1], stop_packets)
    return paths


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(f"usage: {argv[0]} OUTDIR START_CODE STOP_CODE", file=sys.stderr)
        return 2
    for path in write_code_pcaps(argv[1], argv[2], argv[3]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
