"""Field rules shared by the REST API and the web forms (one set of rules, two front doors). Pure."""
from __future__ import annotations

import re

CODE_RE = re.compile(r"^[0-9*#]+$")
MAX_CODE_LENGTH = 8
# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is the SMTP server's call.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCOUNT_NUMBER_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")


def code_error(code: object) -> str | None:
    """Return why a DTMF code is invalid, or None."""
    if not isinstance(code, str) or not code:
        return "Enter a code of digits, * and #."
    if len(code) > MAX_CODE_LENGTH:
        return f"A code has at most {MAX_CODE_LENGTH} characters."
    if not CODE_RE.match(code):
        return "Only digits, * and # are allowed."
    return None


def code_pair_errors(start: object, stop: object) -> dict[str, str]:
    """Validate a start/stop pair: each code alone, then the pair (different, neither a prefix of the other)."""
    errors = {}
    for field, code in (("record_start_code", start), ("record_stop_code", stop)):
        message = code_error(code)
        if message:
            errors[field] = message
    if errors:
        return errors
    if start == stop:
        errors["record_stop_code"] = "The stop code must differ from the start code."
    elif start.startswith(stop) or stop.startswith(start):  # type: ignore[union-attr]
        # A prefix would fire the shorter code before the longer one could ever be completed.
        errors["record_stop_code"] = "One code must not be a prefix of the other."
    return errors


def email_error(email: object, required: bool = False) -> str | None:
    if email is None or email == "":
        return "An email address is required." if required else None
    if not isinstance(email, str) or len(email) > 254 or not EMAIL_RE.match(email):
        return "Enter a valid email address."
    return None


def name_error(name: object, max_length: int = 120) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "A name is required."
    if len(name) > max_length:
        return f"At most {max_length} characters."
    return None


def account_number_error(number: object) -> str | None:
    if not isinstance(number, str) or not ACCOUNT_NUMBER_RE.match(number):
        return "Use 1–64 letters, digits or . _ + - (the SIP user or phone number)."
    return None


def voicemail_numbers_error(numbers: object) -> str | None:
    if not isinstance(numbers, list) or not all(isinstance(n, str) and n.strip() for n in numbers):
        return "A list of voicemail access numbers is expected."
    if any(not re.match(r"^[A-Za-z0-9*#+_.-]{1,32}$", n) for n in numbers):
        return "Each number may hold letters, digits, * # + _ . - (up to 32)."
    return None


def parse_number_list(text: str) -> list[str]:
    """Split 'a, b c' into ['a', 'b', 'c']."""
    return [part for part in re.split(r"[\s,]+", text or "") if part]
