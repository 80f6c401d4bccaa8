"""`python -m tests.fakeswitch` runs a standalone emulator (used by `make demo`)."""
import os
import subprocess
import sys

from tests.emulator.conftest import RawClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_module_entry_point_announces_its_port_and_serves_demo_calls(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakeswitch", "--port", "0", "--demo",
                             "--calls", "1", "--pace", "0.01", "--recordings-dir", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()          # blocks until the child is listening
        assert line.startswith("fakeswitch listening on 127.0.0.1:"), line
        c = RawClient(int(line.rsplit(":", 1)[1]))
        c.login(events="CHANNEL_HANGUP_COMPLETE")
        hdr, body, _ = c.read_frame()
        assert b"Event-Name: CHANNEL_HANGUP_COMPLETE" in body
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
