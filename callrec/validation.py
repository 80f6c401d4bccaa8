"""Field rules shared by the REST API and the web forms (one set of rules, two front doors). Pure."""
from __future__ import annotations

import re

CODE_RE = re.compile(r"^[0-9*#]+$")
MAX_CODE_LENGTH = 8
# Exactly one plain address: dot-atom local part, dotted domain. No display name, no list, no quoting, no
# comments, so the address the page shows is the one the mail goes to (`a,b@c.d` or `x<b@c.d>` would not be).
# Deliverability is the SMTP server's call.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
EMAIL_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@[\w-]+(?:\.[\w-]+)+$")
ACCOUNT_NUMBER_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
# Ids are PostgreSQL `integer`s (SQLite's are wider): anything beyond is no object, not a server error.
MAX_ID = 2**31 - 1
VOICEMAIL_NUMBERS_MAX_LENGTH = 500  # the width of settings.voicemail_numbers, comma-joined
# C0 controls (NUL, which PostgreSQL refuses in text, CR/LF, ...), DEL and lone UTF-16 surrogates (no UTF-8
# encoding exists for them, so no database can store them).
_UNSTORABLE_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def text_error(value: object) -> str | None:
    """Return why a one-line text (a name, a code, a filter) cannot be stored or used, or None."""
    if isinstance(value, str) and _UNSTORABLE_RE.search(value):
        return "Control characters and invalid Unicode are not allowed."
    return None


def id_error(value: object) -> str | None:
    """Return why `value` cannot be an object id (a whole number from 1 to MAX_ID), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return f"Must be an id from 1 to {MAX_ID}."
    return None


def parse_id(text: object) -> int | None:
    """'12' -> 12; None for anything that is not an ASCII whole number within the id range."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    value = int(text)
    return value if id_error(value) is None else None


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


def optional_code_error(code: object) -> str | None:
    """Like code_error, but "" is allowed: no code (the pause/resume codes are off until both are set)."""
    return None if code == "" else code_error(code)


CODE_FIELDS = (("record_start_code", "start"), ("record_stop_code", "stop"), ("record_pause_code", "pause"),
               ("record_resume_code", "resume"))


def code_set_errors(start: object, stop: object, pause: object = "", resume: object = "") -> dict[str, str]:
    """Validate the four DTMF codes together: start/stop as `code_pair_errors`; pause and resume both set or both
    empty (PCI pause off); every code set differs from the others and none is a prefix of another."""
    errors = code_pair_errors(start, stop)
    for field, code in (("record_pause_code", pause), ("record_resume_code", resume)):
        message = optional_code_error(code)
        if message:
            errors[field] = message
    if errors:
        return errors
    if bool(pause) != bool(resume):
        missing = "record_resume_code" if pause else "record_pause_code"
        errors[missing] = "Set both the pause and the resume code, or neither."
        return errors
    codes = [(field, label, code) for (field, label), code in zip(CODE_FIELDS, (start, stop, pause, resume)) if code]
    for index, (field, _label, code) in enumerate(codes[2:], start=2):
        for _other_field, other_label, other in codes[:index]:
            if code == other:
                errors[field] = f"Must differ from the {other_label} code."
            elif code.startswith(other) or other.startswith(code):  # type: ignore[union-attr]
                errors[field] = f"One code must not be a prefix of another (the {other_label} code)."
            if field in errors:
                break
    return errors


def email_error(email: object, required: bool = False) -> str | None:
    if email == "":
        return "An email address is required." if required else None
    # None (JSON null) is no address: "" means none, and the columns are NOT NULL (null was a 409, not a 422).
    if not isinstance(email, str) or len(email) > 254 or text_error(email) or not EMAIL_RE.match(email):
        return "Enter a valid email address."  # one plain address: name@example.com
    return None


def name_error(name: object, max_length: int = 120) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "A name is required."
    if text_error(name):
        return text_error(name)
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
    if any(not re.fullmatch(r"[A-Za-z0-9*#+_.-]{1,32}", n) for n in numbers):
        return "Each number may hold letters, digits, * # + _ . - (up to 32)."
    if len(",".join(n.strip() for n in numbers)) > VOICEMAIL_NUMBERS_MAX_LENGTH:
        return f"At most {VOICEMAIL_NUMBERS_MAX_LENGTH} characters in all (commas included)."
    return None


def parse_number_list(text: str) -> list[str]:
    """Split 'a, b c' into ['a', 'b', 'c']."""
    return [part for part in re.split(r"[\s,]+", text or "") if part]
