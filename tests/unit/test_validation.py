"""Field rules shared by the API and the forms."""
import pytest

from callrec.validation import code_pair_errors, email_error, parse_number_list


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
])
def test_email_rule(email, ok):
    assert (email_error(email) is None) is ok


def test_number_lists_split_on_commas_and_spaces():
    assert parse_number_list("*98, vmain  4000") == ["*98", "vmain", "4000"]
