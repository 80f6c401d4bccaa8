"""Regenerate ``fs110_call.txt`` from the full FreeSWITCH 1.10 capture.

Keeps the first frame of every (event name, leg, function) combination so the
emulator's variable baselines and the header-order tests come from real wire data
without vendoring the whole 700 KB call.  Usage::

    python tests/fakeswitch/data/trim_capture.py /work/shared/freeswitch/captures/fs1.10-call-record-broadcast-dtmf.txt
"""
import os
import sys


def frames(data):
    i = 0
    while i < len(data):
        j = data.find(b"\n\n", i)
        if j < 0:
            return
        head = data[i:j].decode()
        hdr = dict(line.split(": ", 1) for line in head.split("\n") if ": " in line)
        i = j + 2
        body = b""
        if "Content-Length" in hdr:
            n = int(hdr["Content-Length"])
            body, i = data[i:i + n], i + n
        yield head.encode() + b"\n\n" + body, hdr, body


def main(src):
    keep, seen = [], set()
    for raw, hdr, body in frames(open(src, "rb").read()):
        if hdr.get("Content-Type") != "text/event-plain":
            continue
        inner = dict(l.split(": ", 1) for l in body.split(b"\n\n")[0].decode().split("\n") if ": " in l)
        key = (inner.get("Event-Name"), inner.get("Event-Subclass"), inner.get("Unique-ID"),
               inner.get("Event-Calling-Function"),
               inner.get("Application") if inner.get("Application") in ("bridge", "playback") else None)
        if key not in seen:
            seen.add(key)
            keep.append(raw)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fs110_call.txt")
    with open(out, "wb") as fh:
        fh.write(b"".join(keep))
    print(len(keep), "frames ->", out)


if __name__ == "__main__":
    main(sys.argv[1])
