"""Serialisation rules of switch_event_serialize / switch_url_encode (ESL_RESEARCH.md §1.2)."""
from tests.fakeswitch import encoding as enc


def test_url_encoding_uses_freeswitch_unsafe_set_with_uppercase_hex():
    assert enc.url_encode("sofia/internal/1001@192.168.1.100") == "sofia/internal/1001%40192.168.1.100"
    assert enc.url_encode("a b:c;d=e&f+g?h#i<j>k[l]m^n`o{p|q}r\"s\\t") == \
        "a%20b%3Ac%3Bd%3De%26f%2Bg%3Fh%23i%3Cj%3Ek%5Bl%5Dm%5En%60o%7Bp%7Cq%7Dr%22s%5Ct"
    assert enc.url_encode("/,.-_~*'()!$") == "/,.-_~*'()!$"
    assert enc.url_encode("\r\n\x01\x7f") == "%0D%0A%01%7F"


def test_url_encoding_does_not_double_encode_existing_escapes():
    assert enc.url_encode("100%41") == "100%41"
    assert enc.url_encode("50% off") == "50%25%20off"
    assert enc.url_encode("%4") == "%254"


def test_non_ascii_is_encoded_byte_wise_including_raw_bytes():
    assert enc.url_encode("\u00fc") == "%C3%BC"
    assert enc.url_encode(b"\xff".decode("utf-8", "surrogateescape")) == "%FF"


def test_empty_values_serialise_as_undef_and_headers_may_repeat():
    text = enc.serialize_plain([("Event-Name", "X"), ("Empty", ""), ("Hangup-Cause", "A"), ("Hangup-Cause", "B")])
    assert text == "Event-Name: X\nEmpty: _undef_\nHangup-Cause: A\nHangup-Cause: B\n\n"


def test_body_gets_inner_content_length_and_no_trailing_blank_line():
    text = enc.serialize_plain([("Event-Name", "BACKGROUND_JOB")], body="+OK [Success]")
    assert text == "Event-Name: BACKGROUND_JOB\nContent-Length: 13\n\n+OK [Success]"


def test_outer_frame_puts_content_length_first_and_counts_bytes():
    frame = enc.event_frame("Event-Name: X\nV: %C3%BC\n\n")
    assert frame == b"Content-Length: 25\nContent-Type: text/event-plain\n\nEvent-Name: X\nV: %C3%BC\n\n"


def test_disconnect_notice_is_67_bytes():
    assert enc.disconnect_notice() == (b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
                                       b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")


def test_json_serialisation_keeps_values_raw_and_arrays_for_repeats():
    out = enc.serialize_json([("A", "x y"), ("H", "1"), ("H", "2")], body="ok")
    assert out == '{"A":"x y","H":["1","2"],"Content-Length":"2","_body":"ok"}'
