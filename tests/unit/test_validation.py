"""Field rules shared by the API and the forms."""
import pytest

from callrec.validation import (MAX_ID, code_pair_errors, email_error, name_error, parse_id, parse_number_list,
                                text_error, voicemail_numbers_error)


@pytest.mark.parametrize(("start", "stop", "field", "words"), [
    ("*44", "*45", None, None),
    ("#1", "##", None, None),
    ("12345678", "*", None, None),
    ("*4a", "*45", "record_start_code", "Only digits"),
    ("*44", "", "record_stop_code", "Enter a code"),
    ("123456789", "*45", "record_start_code", "at most 8"),
    ("*44", "*44", "record_stop_code", "must differ"),
    ("*4", "*45", "record_stop_code", "prefix"),
    ("*451", "*45", "record_stop_code", "prefix"),
])
def test_dtmf_code_pairs(start, stop, field, words):
    errors = code_pair_errors(start, stop)
    if field is None:
        assert errors == {}
    else:
        assert words in errors[field]


@pytest.mark.parametrize(("email", "ok"), [
    ("a@b.cd", True), ("", True), ("no-at-sign", False), ("a@b", False), ("a b@c.de", False), ("a@@b.cd", False),
    ("first.last+tag@mail.example.com", True), ("jürgen@müller.example", True),
    # exactly one plain address: no list, no display name, no header injection
    ("a,evil@evil.example", False), ("x<evil@evil.example>", False), ("X <x@example.com>", False),
    ('"x"@example.com', False), ("x@example.com\nBcc: e@evil.example", False), ("x@example.com;e@evil.example", False),
    ("x@example.com\x00", False), ("x(comment)@example.com", False),
])
def test_email_rule(email, ok):
    assert (email_error(email) is None) is ok


def test_number_lists_split_on_commas_and_spaces():
    assert parse_number_list("*98, vmain  4000") == ["*98", "vmain", "4000"]


@pytest.mark.parametrize(("value", "ok"), [
    ("Basic", True), ("Ünïcode ☎", True), ("a\x00b", False), ("\ud800", False), ("line\nbreak", False),
    ("tab\there", False), ("del\x7f", False), (42, True),
])
def test_text_must_be_storable(value, ok):
    assert (text_error(value) is None) is ok


def test_a_name_with_a_nul_is_refused():
    assert name_error("a\x00b")


@pytest.mark.parametrize(("text", "value"), [
    ("1", 1), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("0", None), ("-1", None), ("\u00b2", None),
    ("99999999999999999999", None), ("1 ", None), ("", None),
])
def test_ids_are_ascii_whole_numbers_within_the_database_range(text, value):
    assert parse_id(text) == value


def test_voicemail_numbers_must_fit_their_column():
    assert voicemail_numbers_error(["123456789"] * 50) is None  # 499 characters with the commas
    assert voicemail_numbers_error(["123456789"] * 51)
