"""Create, update and delete the admin's objects with the shared validation rules.

Both the REST API and the web forms call these. A call either commits everything or, on any error,
rolls back and raises (ValidationFailed / Conflict / NotFound): a bad request never leaves partial data.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import audit
from . import validation as rules
from .errors import Conflict, NotFound, ValidationFailed
from .models import (ROLES, TOKEN_SCOPES, Account, AdminUser, ApiToken, Customer, CustomerClass, DialingRule,
                     Product, Recording, Settings, db, get_settings, utcnow)
from .policy import CONFIG_FLAGS

Errors = dict[str, str]

# ---------------------------------------------------------------------------------------------- fields


def _text(field: str, check: Callable[[Any], str | None], strip: bool = True):
    def apply(obj, value, errors: Errors):
        message = rules.text_error(value) or check(value)
        if message:
            errors[field] = message
            return
        setattr(obj, field, value.strip() if strip and isinstance(value, str) else value)
    return apply


def _bool(field: str):
    def apply(obj, value, errors: Errors):
        if not isinstance(value, bool):
            errors[field] = "Must be true or false."
            return
        setattr(obj, field, value)
    return apply


def _int(field: str, low: int, high: int):
    def apply(obj, value, errors: Errors):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[field] = f"Must be a whole number from {low} to {high}."
            return
        setattr(obj, field, value)
    return apply


def _number(field: str, low: float, high: float):
    def apply(obj, value, errors: Errors):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            errors[field] = f"Must be a number from {low:g} to {high:g}."
            return
        setattr(obj, field, float(value))
    return apply


def _ref(field: str, model, required: bool):
    label = field.removesuffix("_id").replace("_", " ")

    def apply(obj, value, errors: Errors):
        if value is None:
            if required:
                errors[field] = f"A {label} is required."
            else:
                setattr(obj, field, None)
            return
        if rules.id_error(value) or db.session.get(model, value) is None:
            errors[field] = f"Unknown {label}."
            return
        setattr(obj, field, value)
    return apply


def _choice(field: str, choices: tuple):
    def apply(obj, value, errors: Errors):
        if value not in choices:
            errors[field] = "Choose one of: " + ", ".join(map(str, choices)) + "."
            return
        setattr(obj, field, value)
    return apply


def _voicemail_numbers(obj, value, errors: Errors):
    message = rules.voicemail_numbers_error(value)
    if message:
        errors["voicemail_numbers"] = message
        return
    obj.voicemail_numbers = ",".join(n.strip() for n in value)


def _time_zone(obj, value, errors: Errors):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["time_zone"] = "Unknown time zone (use a name such as Europe/Berlin)."
        return
    obj.time_zone = value


FLAG_FIELDS = {name: _bool(name) for name in CONFIG_FLAGS}

FIELDS: dict[type, dict[str, Callable]] = {
    CustomerClass: {
        "name": _text("name", rules.name_error),
        "notify_new_call_recording": _bool("notify_new_call_recording"),
    },
    DialingRule: {
        "name": _text("name", rules.name_error),
        "record_start_code": _text("record_start_code", rules.code_error),
        "record_stop_code": _text("record_stop_code", rules.code_error),
        "record_pause_code": _text("record_pause_code", rules.optional_code_error),
        "record_resume_code": _text("record_resume_code", rules.optional_code_error),
    },
    Customer: {
        "name": _text("name", rules.name_error),
        "customer_class_id": _ref("customer_class_id", CustomerClass, required=True),
        "dialing_rule_id": _ref("dialing_rule_id", DialingRule, required=False),
    },
    Product: {
        "name": _text("name", rules.name_error),
    },
    Account: {
        "number": _text("number", rules.account_number_error),
        "name": _text("name", lambda v: None if isinstance(v, str) and len(v) <= 120 else "At most 120 characters."),
        "email": _text("email", rules.email_error),
        "customer_id": _ref("customer_id", Customer, required=True),
        "product_id": _ref("product_id", Product, required=True),
        "dialing_rule_id": _ref("dialing_rule_id", DialingRule, required=False),
        "override": _bool("override"),
    },
    Settings: {
        "records_delivery_enabled": _bool("records_delivery_enabled"),
        "record_start_code": _text("record_start_code", rules.code_error),
        "record_stop_code": _text("record_stop_code", rules.code_error),
        "record_pause_code": _text("record_pause_code", rules.optional_code_error),
        "record_resume_code": _text("record_resume_code", rules.optional_code_error),
        "voicemail_numbers": _voicemail_numbers,
        "record_format": _choice("record_format", ("wav",)),
        "record_stereo": _bool("record_stereo"),
        "record_sample_rate": _choice("record_sample_rate", (8000, 16000)),
        "min_recording_seconds": _number("min_recording_seconds", 0, 3600),
        "retention_days": _int("retention_days", 0, 36500),
        "dtmf_timeout_ms": _int("dtmf_timeout_ms", 500, 10000),
        "mail_sender": _text("mail_sender", rules.email_error),
        "time_zone": _time_zone,
        "attachment_max_bytes": _int("attachment_max_bytes", 0, 1 << 30),
        "max_delivery_attempts": _int("max_delivery_attempts", 1, 100),
        "audit_retention_days": _int("audit_retention_days", 0, 36500),
    },
}
REQUIRED = {
    CustomerClass: ("name",),
    DialingRule: ("name", "record_start_code", "record_stop_code"),
    Customer: ("name", "customer_class_id"),
    Product: ("name",),
    Account: ("number", "customer_id", "product_id"),
    Settings: (),
}
HAS_CONFIG = (Product, Account)
HAS_CODES = (DialingRule, Settings)
UNIQUE = {CustomerClass: "name", DialingRule: "name", Customer: "name", Product: "name", Account: "number"}


def _apply(obj, data: dict, creating: bool) -> None:
    """Validate `data` against obj's fields and set them; raise ValidationFailed with per-field errors."""
    model = type(obj)
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    errors: Errors = {}
    allowed = FIELDS[model]
    for key, value in data.items():
        if key == "call_recording" and model in HAS_CONFIG:
            _apply_config(obj, value, errors)
        elif key in allowed:
            allowed[key](obj, value, errors)
        elif key == "id" and model is not Settings:
            # Read-only: tolerated on an update when it names the object itself (a GET sent back as is).
            if creating or value != obj.id:
                errors["id"] = "Read-only field."
        else:
            errors[str(key)] = "Unknown field."
    if creating:
        for key in REQUIRED[model]:
            if key not in data and key not in errors:
                errors[key] = "This field is required."
    if model in HAS_CODES and not any(k in errors for k, _ in rules.CODE_FIELDS):
        errors.update(rules.code_set_errors(obj.record_start_code, obj.record_stop_code,
                                            obj.record_pause_code or "", obj.record_resume_code or ""))
    if model in UNIQUE and UNIQUE[model] not in errors:
        _check_unique(obj, UNIQUE[model])
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors)


def _apply_config(obj, value, errors: Errors) -> None:
    if not isinstance(value, dict):
        errors["call_recording"] = "Must be an object of call-recording flags."
        return
    for key, flag in value.items():
        if key not in FLAG_FIELDS:
            errors[f"call_recording.{key}"] = "Unknown field."
            continue
        sub: Errors = {}
        FLAG_FIELDS[key](obj, flag, sub)
        errors.update({f"call_recording.{k}": v for k, v in sub.items()})


def _check_unique(obj, column: str) -> None:
    model = type(obj)
    value = getattr(obj, column)
    if value is None:
        return
    with db.session.no_autoflush:
        clash = db.session.scalar(select(model.id).where(getattr(model, column) == value, model.id != obj.id)
                                  if obj.id is not None else select(model.id).where(getattr(model, column) == value))
    if clash is not None:
        label = "account number" if model is Account else "name"
        raise Conflict(f"The {label} {value!r} is already in use.", {column: f"This {label} is already in use."})


def _commit(audit_entry: Callable[[], None] | None = None) -> None:
    """Commit; `audit_entry` adds the audit event after a flush (new objects have their ids then)."""
    try:
        if audit_entry is not None:
            db.session.flush()
            audit_entry()
        db.session.commit()
    except IntegrityError as exc:  # a race with another writer on a unique name
        db.session.rollback()
        raise Conflict("The change conflicts with existing data.") from exc


# ---------------------------------------------------------------------------------------------- API


def get(model, object_id: int):
    obj = db.session.get(model, object_id) if rules.id_error(object_id) is None else None
    if obj is None:
        raise NotFound(f"No {model.__tablename__.replace('_', ' ')} with id {object_id}.")
    return obj


def create(model, data: dict):
    """Create and commit an object from a payload, or raise without changing anything."""
    obj = model()
    for name in FLAG_FIELDS if model in HAS_CONFIG else ():
        setattr(obj, name, False)
    if model is Account:
        obj.override, obj.email, obj.name = False, "", ""
    if model is CustomerClass:
        obj.notify_new_call_recording = False
    if model is DialingRule:
        obj.record_pause_code, obj.record_resume_code = "", ""
    try:
        with db.session.no_autoflush:
            _apply(obj, data, creating=True)
        db.session.add(obj)
        _commit(lambda: _audit(obj, "create", audit.diff({}, audit.flatten(to_dict(obj)))))
    except Exception:
        db.session.rollback()
        raise
    return obj


def update(obj, data: dict):
    """Apply a partial update and commit, or roll back and raise. The audit trail gets what changed."""
    try:
        before = audit.flatten(to_dict(obj))
        with db.session.no_autoflush:
            _apply(obj, data, creating=False)
        changes = audit.diff(before, audit.flatten(to_dict(obj)))
        _commit((lambda: _audit(obj, "update", changes)) if changes else None)
    except Exception:
        db.session.rollback()
        raise
    return obj


def object_type(obj) -> str:
    return obj.__tablename__


def object_label(obj) -> str:
    if isinstance(obj, Account):
        return obj.number
    if isinstance(obj, Recording):
        return f"{obj.account_number} {obj.direction} call {obj.call_uuid}"
    if isinstance(obj, AdminUser):
        return obj.username
    return getattr(obj, "name", "") or type(obj).__name__.lower()


def _audit(obj, action: str, changes: dict | None = None) -> None:
    audit.record(db.session, action, object_type(obj), obj.id, object_label(obj), changes)


def update_settings(data: dict) -> Settings:
    return update(get_settings(), data)


USED_BY = {
    CustomerClass: ((Customer, Customer.customer_class_id, "customers"),),
    DialingRule: ((Customer, Customer.dialing_rule_id, "customers"), (Account, Account.dialing_rule_id, "accounts")),
    Customer: ((Account, Account.customer_id, "accounts"),),
    Product: ((Account, Account.product_id, "accounts"),),
    Account: (),
}


def delete(obj) -> None:
    """Delete an object unless something still refers to it (then Conflict, nothing deleted)."""
    users = []
    for model, column, label in USED_BY[type(obj)]:
        count = db.session.scalar(select(func.count()).select_from(model).where(column == obj.id))
        if count:
            users.append(f"{count} {label}")
    if users:
        kind = type(obj).__tablename__.replace("_", " ")
        raise Conflict(f"This {kind} is still used by {' and '.join(users)}; nothing was deleted.")
    if isinstance(obj, Account):
        # Recordings outlive their account (they are the customer's data); keep the number on them.
        db.session.execute(db.update(Recording).where(Recording.account_id == obj.id).values(account_id=None))
    _audit(obj, "delete", audit.diff(audit.flatten(to_dict(obj)), {}))
    db.session.delete(obj)
    _commit()


# ---------------------------------------------------------------------------------------------- recordings


def recording_accessed(recording: Recording, action: str) -> None:
    """Record that someone played or downloaded a recording (its own small transaction)."""
    _audit(recording, action)
    db.session.commit()


def delete_recording(recording: Recording, recordings_dir: str) -> None:
    """Delete a recording (row, then file) with its audit event in the same transaction."""
    from .recordings import delete_recording as delete_row_and_file

    _audit(recording, "delete")
    delete_row_and_file(db.session, recording, recordings_dir)


def resend_recording(recording: Recording) -> str:
    """'Send again' (callrec.outbox.requeue) and its audit event; returns the recipient, or raises RequeueRefused."""
    from . import outbox

    try:
        outbox.requeue(recording.delivery)
    except outbox.RequeueRefused:
        db.session.rollback()
        raise
    _audit(recording, "resend", {"recipient": [None, recording.delivery.recipient]})
    db.session.commit()
    return recording.delivery.recipient


# ---------------------------------------------------------------------------------------------- tokens, users


def create_token(name: str, scope: str = "write", lifetime_days: int | None = None) -> tuple[ApiToken, str]:
    """Issue an API token (scope read or write; expiring after `lifetime_days`, None: never); return it once."""
    errors: Errors = {}
    name = name.strip() if isinstance(name, str) else name
    message = rules.text_error(name) or (None if isinstance(name, str) and 1 <= len(name) <= 80
                                         else "1 to 80 characters.")
    if message:
        errors["name"] = message
    if scope not in TOKEN_SCOPES:
        errors["scope"] = "Choose one of: " + ", ".join(TOKEN_SCOPES) + "."
    if lifetime_days is not None and (isinstance(lifetime_days, bool) or not isinstance(lifetime_days, int)
                                      or not 1 <= lifetime_days <= 3650):
        errors["lifetime_days"] = "A whole number of days from 1 to 3650 (or none: never expires)."
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors)
    from datetime import timedelta

    expires = utcnow() + timedelta(days=lifetime_days) if lifetime_days else None
    row, token = ApiToken.issue(name, scope=scope, expires_at=expires)
    db.session.add(row)
    _commit(lambda: audit.record(db.session, "token-create", "api_token", row.id, row.name, {
        "scope": [None, scope], "expires_at": [None, expires.isoformat() if expires else None]}))
    return row, token


def revoke_token(row: ApiToken) -> None:
    audit.record(db.session, "token-revoke", "api_token", row.id, row.name)
    db.session.delete(row)
    _commit()


def _password_error(password) -> str | None:
    if not isinstance(password, str) or len(password) < 8:
        return "At least 8 characters."
    return rules.text_error(password) or (None if len(password) <= 200 else "At most 200 characters.")


def create_user(username: str, password: str, role: str = "admin") -> AdminUser:
    errors: Errors = {}
    username = username.strip() if isinstance(username, str) else username
    message = rules.text_error(username) or (None if isinstance(username, str) and 1 <= len(username) <= 80
                                             else "1 to 80 characters.")
    if message:
        errors["username"] = message
    if role not in ROLES:
        errors["role"] = "Choose one of: " + ", ".join(ROLES) + "."
    if (message := _password_error(password)):
        errors["password"] = message
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors)
    if db.session.scalar(select(AdminUser.id).where(AdminUser.username == username)) is not None:
        raise Conflict(f"An admin user named {username!r} exists already.", {"username": "Already in use."})
    user = AdminUser(username=username, role=role)
    user.set_password(password)
    db.session.add(user)
    _commit(lambda: audit.record(db.session, "user-create", "admin_user", user.id, username,
                                 {"role": [None, role]}))
    return user


def update_user(user: AdminUser, role: str | None = None, password: str | None = None) -> None:
    """An admin changes another user's role or sets a new password for them (which ends their sessions)."""
    errors: Errors = {}
    if role is not None and role not in ROLES:
        errors["role"] = "Choose one of: " + ", ".join(ROLES) + "."
    if password is not None and (message := _password_error(password)):
        errors["password"] = message
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors)
    changes: dict = {}
    if role is not None and role != user.role:
        if user.role == "admin" and _last_admin(user):
            raise Conflict("This is the last admin: make someone else an admin first.", {"role": "Last admin."})
        changes["role"] = [user.role, role]
        user.role = role
        user.end_sessions()  # a changed role applies at once, not at the next login
    if password is not None:
        user.set_password(password)
        changes["password"] = ["(set)", "(reset)"]
    if changes:
        audit.record(db.session, "user-update", "admin_user", user.id, user.username, changes)
    _commit()


def _last_admin(user: AdminUser) -> bool:
    others = db.session.scalar(select(func.count()).select_from(AdminUser)
                               .where(AdminUser.role == "admin", AdminUser.id != user.id))
    return not others


def change_own_password(user: AdminUser, current: str, new: str) -> None:
    """The user's own password: the current one is required; every session of the user ends (the caller logs
    this one in again)."""
    if not user.check_password(current or ""):
        raise ValidationFailed("The current password is wrong.", {"current_password": "Wrong password."})
    if (message := _password_error(new)):
        raise ValidationFailed("Some fields are invalid.", {"new_password": message})
    user.set_password(new)
    audit.record(db.session, "password-change", "admin_user", user.id, user.username)
    _commit()


# ---------------------------------------------------------------------------------------------- JSON


def to_dict(obj) -> dict:
    """Serialise an object with the field names of DESIGN §2/§4."""
    if isinstance(obj, Settings):
        data = {name: getattr(obj, name) for name in FIELDS[Settings]}
        data["voicemail_numbers"] = obj.voicemail_number_list()
        return data
    data = {"id": obj.id}
    for name in FIELDS[type(obj)]:
        data[name] = getattr(obj, name)
    if isinstance(obj, HAS_CONFIG):
        data["call_recording"] = {name: getattr(obj, name) for name in CONFIG_FLAGS}
    return data
