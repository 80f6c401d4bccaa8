"""Effective call-recording policy of an account (DESIGN §2): one pure function over plain values.

No Flask, SQLAlchemy or I/O here: callers translate their rows into the small frozen values below.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum

CONFIG_FLAGS = (
    "enabled",
    "auto_record_outgoing",
    "auto_record_incoming",
    "auto_record_redirected",
    "manual_control",
    "announcement",
    "email_delivery",
)


@dataclass(frozen=True)
class RecordingConfig:
    """A call-recording configuration, as a product or an overriding account carries it."""

    enabled: bool = False
    auto_record_outgoing: bool = False
    auto_record_incoming: bool = False
    auto_record_redirected: bool = False
    manual_control: bool = False
    announcement: bool = False
    email_delivery: bool = False


@dataclass(frozen=True)
class CodePair:
    """The DTMF codes of an account: start/stop, and pause/resume ("" each: PCI pause off)."""

    start: str
    stop: str
    pause: str = ""
    resume: str = ""


@dataclass(frozen=True)
class Source:
    """Where a value came from: kind is account, product, customer, dialing_rule or settings."""

    kind: str
    name: str = ""
    via: str = ""  # for a dialing rule: "account" or "customer", the owner it is assigned to

    def describe(self) -> str:
        if self.kind == "dialing_rule":
            return f"dialing rule {self.name}, assigned to the {self.via}"
        if self.kind == "settings":
            return "global settings"
        return f"{self.kind} {self.name}".strip()


class EmailBlock(str, Enum):
    """Why an account gets no email; the value is the stable machine-readable code."""

    RECORDING_DISABLED = "recording_disabled"
    POLICY_EMAIL_OFF = "policy_email_off"
    RECORDS_DELIVERY_DISABLED = "records_delivery_disabled"
    CLASS_NOTIFICATION_OFF = "customer_class_notification_off"
    NO_EMAIL = "account_has_no_email"


@dataclass(frozen=True)
class AccountFacts:
    number: str
    email: str
    override: bool
    config: RecordingConfig
    id: int | None = None


@dataclass(frozen=True)
class ProductFacts:
    name: str
    config: RecordingConfig


@dataclass(frozen=True)
class DialingRuleFacts:
    name: str
    codes: CodePair


@dataclass(frozen=True)
class CustomerFacts:
    name: str
    class_name: str
    class_notifies_new_recording: bool
    dialing_rule: DialingRuleFacts | None = None


@dataclass(frozen=True)
class SettingsFacts:
    records_delivery_enabled: bool
    default_codes: CodePair


@dataclass(frozen=True)
class EffectivePolicy:
    """What callrec does for an account, with the source of every value."""

    account_number: str
    account_id: int | None
    configured: RecordingConfig  # the configuration as chosen (account or product), before masking
    config_source: Source
    codes: CodePair
    codes_source: Source
    email_recipient: str | None
    email_block: EmailBlock | None
    email_block_reason: str | None
    email_sources: tuple[Source, ...]

    @property
    def enabled(self) -> bool:
        return self.configured.enabled

    def _if_enabled(self, flag: bool) -> bool:
        # "Enabled" switches recording on for the account at all: off masks every other flag.
        return self.configured.enabled and flag

    @property
    def auto_record_outgoing(self) -> bool:
        return self._if_enabled(self.configured.auto_record_outgoing)

    @property
    def auto_record_incoming(self) -> bool:
        return self._if_enabled(self.configured.auto_record_incoming)

    @property
    def auto_record_redirected(self) -> bool:
        return self._if_enabled(self.configured.auto_record_redirected)

    @property
    def manual_control(self) -> bool:
        return self._if_enabled(self.configured.manual_control)

    @property
    def announcement(self) -> bool:
        return self._if_enabled(self.configured.announcement)

    @property
    def pause_control(self) -> bool:
        """PCI pause by DTMF: manual control on and both pause/resume codes set (off by default)."""
        return self.manual_control and bool(self.codes.pause) and bool(self.codes.resume)

    def auto_record(self, direction: str) -> bool:
        """Whether a call in `direction` (outgoing, incoming, redirected) is recorded automatically."""
        return {
            "outgoing": self.auto_record_outgoing,
            "incoming": self.auto_record_incoming,
            "redirected": self.auto_record_redirected,
        }.get(direction, False)

    def to_dict(self) -> dict:
        """Serialise with, for every value, where it came from (the API's effective-policy shape)."""
        cfg_src = _source_dict(self.config_source)
        values = {
            name: {"value": getattr(self, name), "source": cfg_src}
            for name in CONFIG_FLAGS
            if name != "email_delivery"
        }
        values["email_delivery"] = {"value": self.configured.email_delivery and self.enabled, "source": cfg_src}
        return {
            "account_number": self.account_number,
            "account_id": self.account_id,
            "call_recording": values,
            "codes": {
                "record_start_code": self.codes.start,
                "record_stop_code": self.codes.stop,
                "record_pause_code": self.codes.pause,
                "record_resume_code": self.codes.resume,
                "source": _source_dict(self.codes_source),
            },
            "email": {
                "recipient": self.email_recipient,
                "blocked_by": self.email_block.value if self.email_block else None,
                "reason": self.email_block_reason,
                "sources": [_source_dict(s) for s in self.email_sources],
            },
        }


def _source_dict(source: Source) -> dict:
    data = {"kind": source.kind, "name": source.name, "description": source.describe()}
    if source.via:
        data["via"] = source.via
    return data


def resolve_policy(
    account: AccountFacts,
    product: ProductFacts,
    customer: CustomerFacts,
    settings: SettingsFacts,
    account_rule: DialingRuleFacts | None = None,
) -> EffectivePolicy:
    """Resolve an account's effective policy: override, dialing-rule precedence and the email conditions."""
    if account.override:
        configured, config_source = account.config, Source("account", account.number)
    else:
        configured, config_source = product.config, Source("product", product.name)

    if account_rule is not None:
        codes, codes_source = account_rule.codes, Source("dialing_rule", account_rule.name, "account")
    elif customer.dialing_rule is not None:
        codes, codes_source = customer.dialing_rule.codes, Source("dialing_rule", customer.dialing_rule.name, "customer")
    else:
        codes, codes_source = settings.default_codes, Source("settings")

    block, reason = _email_block(account, configured, config_source, customer, settings)
    email_sources = (
        config_source,
        Source("settings"),
        Source("customer", customer.name),
        Source("account", account.number),
    )
    return EffectivePolicy(
        account_number=account.number,
        account_id=account.id,
        configured=configured,
        config_source=config_source,
        codes=codes,
        codes_source=codes_source,
        email_recipient=None if block else account.email.strip(),
        email_block=block,
        email_block_reason=reason,
        email_sources=email_sources,
    )


def _email_block(account, configured, config_source, customer, settings):
    """Return (EmailBlock, sentence) for the first condition that fails, or (None, None)."""
    if not configured.enabled:
        return EmailBlock.RECORDING_DISABLED, f"call recording is disabled ({config_source.describe()})"
    if not configured.email_delivery:
        return EmailBlock.POLICY_EMAIL_OFF, f"'Send the call recording via email' is off ({config_source.describe()})"
    if not settings.records_delivery_enabled:
        return EmailBlock.RECORDS_DELIVERY_DISABLED, "the global setting RecordsDelivery.Enabled is No"
    if not customer.class_notifies_new_recording:
        return (
            EmailBlock.CLASS_NOTIFICATION_OFF,
            f"customer class {customer.class_name} has 'New call recording is available' off",
        )
    if not account.email.strip():
        return EmailBlock.NO_EMAIL, f"account {account.number} has no email address"
    return None, None


def config_from_mapping(values: dict) -> RecordingConfig:
    """Build a RecordingConfig from any mapping with the flag names (missing flags are off)."""
    return RecordingConfig(**{f.name: bool(values.get(f.name, False)) for f in fields(RecordingConfig)})
