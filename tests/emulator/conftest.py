"""Fixtures for the emulator's own tests: a started FakeSwitch and a raw ESL socket client."""
import os
import socket

import pytest

from tests.fakeswitch import FakeSwitch, audio


class RawClient:
    """Minimal blocking ESL client that returns frames exactly as they came off the wire."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def read_frame(self):
        """-> (outer headers dict, body bytes, raw bytes of the whole frame)."""
        raw = b""
        hdr = {}
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("connection closed")
            raw += line
            if line == b"\n":
                break
            k, _, v = line.decode().rstrip("\n").partition(": ")
            hdr[k] = v
        body = b""
        if "Content-Length" in hdr:
            body = self.file.read(int(hdr["Content-Length"]))
            if len(body) < int(hdr["Content-Length"]):
                raise EOFError("connection closed inside a frame")
            raw += body
        return hdr, body, raw

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def command(self, line):
        self.send(line + "\n\n")
        return self.read_frame()

    def login(self, password="ClueCon", events="ALL"):
        assert self.read_frame()[0] == {"Content-Type": "auth/request"}
        hdr, _, _ = self.command("auth " + password)
        assert hdr["Reply-Text"] == "+OK accepted"
        if events:
            assert self.command("event plain " + events)[0]["Reply-Text"].startswith("+OK")
        return self

    def events(self, until=None, names=None):
        """Read frames until an event named ``until`` arrives; returns [(name, headers, body)]."""
        from tests.fakeswitch.encoding import parse_plain

        out = []
        while True:
            hdr, body, raw = self.read_frame()
            if hdr.get("Content-Type") != "text/event-plain":
                out.append((hdr.get("Content-Type"), hdr, body))
                continue
            headers, inner_body = parse_plain(body)
            name = dict(headers)["Event-Name"]
            if names is None or name in names:
                out.append((name, headers, inner_body))
            if name == until:
                return out

    def close(self):
        try:   # wakes a thread blocked in read_frame, whose buffer lock close() would wait for
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for obj in (self.file, self.sock):   # the makefile() holds a reference to the socket
            try:
                obj.close()
            except OSError:
                pass


@pytest.fixture
def dirs(tmp_path):
    rec = tmp_path / "recordings"
    sounds = tmp_path / "sounds"
    for rate in (8000, 16000):
        os.makedirs(sounds / "callrec" / str(rate))
        audio.make_announcement(str(sounds / "callrec" / str(rate) / "call-recording-started.wav"),
                                rate=rate, seconds=1.0)
    return {"recordings": str(rec), "sounds": str(sounds),
            "announcement": str(sounds / "callrec" / "call-recording-started.wav"),
            "ann8k": str(sounds / "callrec" / "8000" / "call-recording-started.wav"),
            "ann16k": str(sounds / "callrec" / "16000" / "call-recording-started.wav")}


@pytest.fixture
def fs(dirs):
    with FakeSwitch(recordings_dir=dirs["recordings"], sounds_dir=dirs["sounds"]) as sw:
        yield sw


@pytest.fixture
def client(fs):
    c = RawClient(fs.port)
    yield c
    c.close()


@pytest.fixture
def esl(fs):
    """A logged-in raw client subscribed to ALL events."""
    c = RawClient(fs.port).login()
    fs.wait_for_subscriber(timeout=5)
    yield c
    c.close()
