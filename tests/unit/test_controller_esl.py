"""Event Socket parsing: split lines first, then decode each value (greenswitch 0.0.19 does it the other way)."""
from __future__ import annotations

import textwrap

import pytest

from controller.esl import parse_event


def _event(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


def test_an_encoded_newline_in_a_caller_id_name_cannot_inject_headers():
    raw = _event("""
        Event-Name: CHANNEL_ANSWER
        Unique-ID: 11111111-1111-1111-1111-111111111111
        Call-Direction: inbound
        Caller-Caller-ID-Name: Bob%0AUnique-ID%3A%2022222222-2222-2222-2222-222222222222%0Avariable_user_name%3A%201000
        variable_user_name: 1003

        """)
    headers = parse_event(raw)
    assert headers["Unique-ID"] == "11111111-1111-1111-1111-111111111111"
    assert headers["variable_user_name"] == "1003"
    assert headers["Caller-Caller-ID-Name"].startswith("Bob\nUnique-ID: 2222")


@pytest.mark.parametrize(("line", "name", "value"), [
    ("Channel-Name: sofia/internal/1001%40192.168.1.100", "Channel-Name", "sofia/internal/1001@192.168.1.100"),
    ("Event-Date-Local: 2026-11-25%2017%3A20%3A07", "Event-Date-Local", "2026-11-25 17:20:07"),
    ("Caller-Caller-ID-Name: %C3%BC", "Caller-Caller-ID-Name", "ü"),
    ("variable_DP_MATCH: ARRAY%3A%3A1002%7C%3A1002", "variable_DP_MATCH", "ARRAY::1002|:1002"),
    ("Plain: no-escapes", "Plain", "no-escapes"),
    ("Empty:", "Empty", ""),
])
def test_each_value_is_url_decoded_on_its_own(line, name, value):
    assert parse_event((line + "\n\n").encode())[name] == value


def test_the_first_occurrence_of_a_duplicated_header_wins():
    headers = parse_event(b"Event-Name: CHANNEL_HANGUP_COMPLETE\nHangup-Cause: NORMAL_CLEARING\n"
                          b"Hangup-Cause: USER_BUSY\n\n")
    assert headers["Hangup-Cause"] == "NORMAL_CLEARING"


def test_malformed_lines_are_skipped_not_glued_onto_other_headers():
    headers = parse_event(b"Event-Name: DTMF\ngarbage without colon\nDTMF-Digit: 5\n\n")
    assert headers == {"Event-Name": "DTMF", "DTMF-Digit": "5"}


def test_an_inner_body_is_kept_apart():
    headers = parse_event(b"Event-Name: BACKGROUND_JOB\nJob-UUID: x\nContent-Length: 14\n\n+OK [Success]\n")
    assert headers["_body"] == "+OK [Success]\n" and headers["Job-UUID"] == "x"


def test_the_lazy_event_headers_follow_the_same_split_then_decode_rule():
    from controller.esl import EventHeaders

    raw = (b"Event-Name: CHANNEL_ANSWER\nUnique-ID: 1111\nCaller-Caller-ID-Name: Bob%0AUnique-ID%3A%202222\n"
           b"Hangup-Cause: NORMAL_CLEARING\nHangup-Cause: USER_BUSY\nvariable_user_name: 1003\n\n")
    headers = EventHeaders(raw)
    assert headers["Unique-ID"] == "1111" and headers.get("variable_user_name") == "1003"
    assert headers["Caller-Caller-ID-Name"] == "Bob\nUnique-ID: 2222"
    assert headers["Hangup-Cause"] == "NORMAL_CLEARING"
    assert headers.get("Missing") is None and "Missing" not in headers
    assert headers.has_header_prefix("variable_") and dict(headers)["Event-Name"] == "CHANNEL_ANSWER"


class _RecordingSocket:
    def __init__(self):
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent += data


@pytest.mark.parametrize("command", [
    "api uuid_record u stop /r/1000\n\nbgapi status.wav",
    "api uuid_record u stop /r/x\r\nversion",
    "api status\n",
])
def test_the_event_socket_layer_never_sends_a_command_holding_cr_or_lf(command):
    """On the Event Socket a blank line ends a command: a newline inside one would start a command of its own."""
    from controller.esl import EslConnection, UnsafeCommand

    conn = EslConnection("127.0.0.1", 1, "pw")
    conn._sock = sock = _RecordingSocket()
    conn.connected = True
    with pytest.raises(UnsafeCommand):
        conn.send_nowait(command)
    assert sock.sent == b"" and not conn._pending
