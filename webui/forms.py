"""Flask-WTF forms of the admin pages: CSRF, rendering and turning text into a service payload.

The forms hold no business rules. `payload()` converts what the browser sent into the shapes the REST API
accepts (numbers, booleans, ids, lists) and passes anything it cannot convert through unchanged, so that
callrec.services (the one set of rules) rejects it; `show_errors()` puts each of its field errors next to
the field it belongs to.
"""
from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectChoice, SelectField, StringField

from callrec.policy import CONFIG_FLAGS
from callrec.validation import parse_number_list

# The seed's wording for the seven call-recording flags.
FLAG_LABELS = {
    "enabled": "Enabled",
    "auto_record_outgoing": "Auto record outgoing calls",
    "auto_record_incoming": "Auto record incoming calls",
    "auto_record_redirected": "Auto record redirected calls",
    "manual_control": "Allow to start/stop recording manually",
    "announcement": "Play the call recording announcement to all",
    "email_delivery": "Send the call recording via email",
}
FLAG_HELP = {
    "auto_record_outgoing": "Calls made to a voice mailbox to retrieve messages are not auto-recorded.",
    "auto_record_redirected": "Transferred or forwarded calls; recorded only for a redirecting party that is "
                              "one of our accounts. Calls diverted to voicemail are not recorded.",
    "manual_control": "The user dials the start/stop codes during a call (see the dialing rule).",
    "announcement": "Everyone hears \u201cCall recording started\u201d; the recording contains it.",
    "email_delivery": "Needs RecordsDelivery.Enabled, the customer class's notification and an email address.",
}


def _optional_id(value) -> str:
    """Coerce a select's value to text without turning None into 'None'."""
    return "" if value is None else str(value)


def _ref(text: str | None):
    """'' -> None, '12' -> 12; anything else goes through unchanged for the service to reject."""
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else text


def _str(value) -> str:
    """A field's text; a field the POST left out keeps the object's value, which may be a number."""
    return "" if value is None else str(value).strip()


def _whole(text: str | None):
    text = _str(text)
    try:
        return int(text)
    except ValueError:
        return text


def _number(text: str | None):
    text = _str(text)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


class ServiceForm(FlaskForm):
    """A form whose data goes to callrec.services and whose errors come back from it."""

    def payload(self) -> dict:  # pragma: no cover - every form defines it
        raise NotImplementedError

    def show_errors(self, fields: dict[str, str], message: str = "") -> None:
        """Attach each service error to its field; errors without a field become form errors."""
        for key, text in fields.items():
            field = self._fields.get(key.removeprefix("call_recording."))
            if field is not None and field.name != "csrf_token":
                field.errors = [*field.errors, text]
            else:
                self.form_errors.append(text)
        if message and not fields:
            self.form_errors.append(message)


class LoginForm(FlaskForm):
    username = StringField("Username")
    password = PasswordField("Password")


class ConfirmForm(FlaskForm):
    """An empty form: a POST button with its CSRF token (delete, send again, log out)."""


class CustomerClassForm(ServiceForm):
    name = StringField("Name")
    notify_new_call_recording = BooleanField("New call recording is available",
                                             description="Notify the customers of this class by email.")

    def payload(self) -> dict:
        return {"name": self.name.data or "", "notify_new_call_recording": bool(self.notify_new_call_recording.data)}


class DialingRuleForm(ServiceForm):
    name = StringField("Name")
    record_start_code = StringField("Start recording code", description="Digits, * and #, e.g. *44.")
    record_stop_code = StringField("Stop recording code", description="Must differ from the start code.")
    record_pause_code = StringField("Pause recording code (PCI)",
                                    description="Silence in the recording until the resume code; empty: off.")
    record_resume_code = StringField("Resume recording code (PCI)", description="Set both, or neither.")

    def payload(self) -> dict:
        return {"name": self.name.data or "", "record_start_code": (self.record_start_code.data or "").strip(),
                "record_stop_code": (self.record_stop_code.data or "").strip(),
                "record_pause_code": (self.record_pause_code.data or "").strip(),
                "record_resume_code": (self.record_resume_code.data or "").strip()}


class CustomerForm(ServiceForm):
    name = StringField("Name")
    customer_class_id = SelectField("Customer class", coerce=_optional_id, validate_choice=False)
    dialing_rule_id = SelectField("Dialing rule", coerce=_optional_id, validate_choice=False,
                                  description="Start/stop codes for the customer's accounts; "
                                              "none: the global default codes.")

    def payload(self) -> dict:
        return {"name": self.name.data or "", "customer_class_id": _ref(self.customer_class_id.data),
                "dialing_rule_id": _ref(self.dialing_rule_id.data)}


def _flag_fields(cls):
    """Add the seven call-recording BooleanFields to a form class."""
    for name in CONFIG_FLAGS:
        setattr(cls, name, BooleanField(FLAG_LABELS[name], description=FLAG_HELP.get(name, "")))
    return cls


@_flag_fields
class ProductForm(ServiceForm):
    name = StringField("Name")

    def flags(self) -> list:
        return [self[name] for name in CONFIG_FLAGS]

    def payload(self) -> dict:
        return {"name": self.name.data or "",
                "call_recording": {name: bool(self[name].data) for name in CONFIG_FLAGS}}


@_flag_fields
class AccountForm(ServiceForm):
    number = StringField("Number", description="The SIP user or phone number.")
    name = StringField("Name")
    email = StringField("Email", description="Where new call recordings are sent.")
    customer_id = SelectField("Customer", coerce=_optional_id, validate_choice=False)
    product_id = SelectField("Product", coerce=_optional_id, validate_choice=False)
    dialing_rule_id = SelectField("Dialing rule", coerce=_optional_id, validate_choice=False,
                                  description="None: the customer's dialing rule, else the global default codes.")
    override = BooleanField("Override",
                            description="Override the call recording configuration the account gets from its "
                                        "product.")
    # "1" when the flag checkboxes were editable as the form was submitted (override on when the page was
    # rendered, or switched on by the page's script). Without it, a switched-on Override starts from the
    # product's values, because disabled checkboxes are not submitted.
    config_editable = HiddenField(default="0")

    def flags(self) -> list:
        return [self[name] for name in CONFIG_FLAGS]

    def payload(self) -> dict:
        return {"number": (self.number.data or "").strip(), "name": self.name.data or "",
                "email": (self.email.data or "").strip(), "customer_id": _ref(self.customer_id.data),
                "product_id": _ref(self.product_id.data), "dialing_rule_id": _ref(self.dialing_rule_id.data),
                "override": bool(self.override.data)}

    def submitted_flags(self) -> dict:
        return {name: bool(self[name].data) for name in CONFIG_FLAGS}


class SettingsForm(ServiceForm):
    records_delivery_enabled = BooleanField("RecordsDelivery.Enabled",
                                            description="Send new call recordings by email at all.")
    record_start_code = StringField("Default start recording code")
    record_stop_code = StringField("Default stop recording code")
    record_pause_code = StringField("Default pause recording code (PCI)",
                                    description="Silence in the recording until the resume code; empty: off.")
    record_resume_code = StringField("Default resume recording code (PCI)", description="Set both, or neither.")
    voicemail_numbers = StringField("Voicemail access numbers",
                                    description="Separated by commas or spaces; calls to them are never "
                                                "auto-recorded.")
    min_recording_seconds = StringField("Minimum recording length (seconds)",
                                        description="Shorter recordings are kept but not emailed.")
    retention_days = StringField("Retention (days)", description="0 keeps recordings forever.")
    record_format = SelectField("Recording format", choices=[SelectChoice("wav", "WAV")], validate_choice=False)
    record_stereo = BooleanField("Stereo (one party per channel)")
    record_sample_rate = SelectField("Sample rate", choices=[SelectChoice("8000", "8000 Hz"), SelectChoice("16000", "16000 Hz")],
                                     coerce=str, validate_choice=False)
    dtmf_timeout_ms = StringField("Inter-digit timeout for codes (ms)")
    mail_sender = StringField("Mail sender", description="From address of recording emails; empty: the "
                                                         "server's default.")
    time_zone = StringField("Time zone", description="For dates in emails and on these pages, e.g. Europe/Berlin.")
    attachment_max_bytes = StringField("Largest attachment (bytes)",
                                       description="Larger recordings are sent as a download link.")
    max_delivery_attempts = StringField("Delivery attempts before giving up")
    audit_retention_days = StringField("Audit trail retention (days)",
                                       description="0 keeps it forever; never shorter than the recordings' "
                                                   "retention.")

    def payload(self) -> dict:
        return {
            "records_delivery_enabled": bool(self.records_delivery_enabled.data),
            "record_start_code": (self.record_start_code.data or "").strip(),
            "record_stop_code": (self.record_stop_code.data or "").strip(),
            "record_pause_code": (self.record_pause_code.data or "").strip(),
            "record_resume_code": (self.record_resume_code.data or "").strip(),
            "voicemail_numbers": parse_number_list(self.voicemail_numbers.data or ""),
            "min_recording_seconds": _number(self.min_recording_seconds.data),
            "retention_days": _whole(self.retention_days.data),
            "record_format": self.record_format.data,
            "record_stereo": bool(self.record_stereo.data),
            "record_sample_rate": _whole(self.record_sample_rate.data),
            "dtmf_timeout_ms": _whole(self.dtmf_timeout_ms.data),
            "mail_sender": (self.mail_sender.data or "").strip(),
            "time_zone": (self.time_zone.data or "").strip(),
            "attachment_max_bytes": _whole(self.attachment_max_bytes.data),
            "max_delivery_attempts": _whole(self.max_delivery_attempts.data),
            "audit_retention_days": _whole(self.audit_retention_days.data),
        }


class TokenForm(FlaskForm):
    """A new API token: a name, a scope and a lifetime (the service checks them)."""

    name = StringField("Name", description="Who or what uses it, e.g. billing.")
    scope = SelectField("Scope", choices=[SelectChoice("read", "read — GET only"),
                                          SelectChoice("write", "write — read and change")],
                        validate_choice=False)
    lifetime_days = StringField("Lifetime (days)", default="90", description="Empty: never expires.")

    def payload(self) -> dict:
        lifetime = _str(self.lifetime_days.data)
        return {"name": self.name.data or "", "scope": self.scope.data,
                "lifetime_days": _whole(lifetime) if lifetime else None}

    def show_errors(self, fields: dict[str, str], message: str = "") -> None:
        ServiceForm.show_errors(self, fields, message)  # type: ignore[arg-type]


class NewUserForm(FlaskForm):
    username = StringField("Username")
    role = SelectField("Role", choices=[SelectChoice("admin", "admin — may change everything"),
                                        SelectChoice("auditor", "auditor — sees everything, changes nothing")],
                       validate_choice=False)
    password = PasswordField("Password", description="At least 8 characters; the user can change it later.")

    def show_errors(self, fields: dict[str, str], message: str = "") -> None:
        ServiceForm.show_errors(self, fields, message)  # type: ignore[arg-type]


class EditUserForm(FlaskForm):
    role = SelectField("Role", choices=NewUserForm.role.kwargs["choices"], validate_choice=False)
    password = PasswordField("New password", description="Empty: unchanged. A new password ends their sessions.")

    def show_errors(self, fields: dict[str, str], message: str = "") -> None:
        ServiceForm.show_errors(self, fields, message)  # type: ignore[arg-type]


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField("New password", description="At least 8 characters. Your other sessions end.")

    def show_errors(self, fields: dict[str, str], message: str = "") -> None:
        ServiceForm.show_errors(self, fields, message)  # type: ignore[arg-type]
