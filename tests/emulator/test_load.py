"""Load generator: N concurrent calls at a rate, with event->command latency attribution."""
import threading

from tests.emulator.conftest import RawClient
from tests.fakeswitch.encoding import parse_plain


def test_load_runs_calls_at_rate_and_attributes_commands_to_their_trigger(fs):
    c = RawClient(fs.port).login(events="CHANNEL_ANSWER")
    fs.wait_for_subscriber()

    def controller():   # records every inbound leg on answer, like callrec's controller
        try:
            while True:
                hdr, body, _ = c.read_frame()
                if hdr.get("Content-Type") != "text/event-plain":
                    continue
                d = dict(parse_plain(body)[0])
                if d["Call-Direction"] == "inbound":
                    c.send("api uuid_record %s start %s/%s.wav\n\n" % (d["Unique-ID"], fs.recordings_dir,
                                                                    d["Unique-ID"]))
        except (EOFError, OSError):
            pass
    t = threading.Thread(target=controller, daemon=True)
    t.start()
    try:
        run = fs.load(calls=20, cps=100, hold=0.3, ring=0.05)
        run.wait(timeout=20)
    finally:
        c.close()
    assert run.started == run.finished == 20
    recs = fs.commands_matching(r"^uuid_record \S+ start")
    assert len(recs) == 20
    assert [r.trigger[0] for r in recs] == ["CHANNEL_ANSWER"] * 20
    assert all(0 <= r.latency < 5 for r in recs)
    stops = [e for e in fs.events if e.name == "RECORD_STOP"]
    assert len(stops) == 20
    assert min(int(e.get("variable_record_ms")) for e in stops) >= 150
