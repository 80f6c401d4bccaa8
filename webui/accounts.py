"""Accounts: their product, Override with their own call-recording fields, and the effective policy panel."""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask import request

from callrec.models import Account, Customer, DialingRule, Product, db, get_settings
from callrec.policy import CONFIG_FLAGS, EffectivePolicy

from .crud import Area, choices
from .forms import AccountForm


@dataclass(frozen=True)
class PolicyLine:
    """One sentence of the effective policy panel: '<topic>: <outcome> (<source>)'."""

    topic: str
    outcome: str
    source: str
    on: bool

    def __str__(self) -> str:
        return f"{self.topic}: {self.outcome}" + (f" ({self.source})" if self.source else "")


DIRECTION_TOPICS = (("outgoing", "Outgoing calls"), ("incoming", "Incoming calls"),
                    ("redirected", "Redirected calls"))


def explain_policy(policy: EffectivePolicy) -> list[PolicyLine]:
    """Say in words what callrec does for the account and where each value comes from."""
    src = policy.config_source.describe()
    lines = [PolicyLine("Call recording", "enabled" if policy.enabled else "disabled", src, policy.enabled)]
    disabled = "not recorded \u2014 call recording is disabled"
    for direction, topic in DIRECTION_TOPICS:
        if not policy.enabled:
            lines.append(PolicyLine(topic, disabled, src, False))
        elif policy.auto_record(direction):
            lines.append(PolicyLine(topic, "recorded", src, True))
        else:
            lines.append(PolicyLine(topic, "not recorded automatically", src, False))
    if not policy.enabled:
        lines.append(PolicyLine("Manual start/stop", "not allowed \u2014 call recording is disabled", src, False))
    else:
        lines.append(PolicyLine("Manual start/stop", "allowed" if policy.manual_control else "not allowed", src,
                                policy.manual_control))
    codes = f"{policy.codes.start} / {policy.codes.stop}"
    if not policy.manual_control:
        codes += " \u2014 not used while manual start/stop is not allowed"
    lines.append(PolicyLine("Start/stop codes", codes, policy.codes_source.describe(), policy.manual_control))
    if not (policy.codes.pause and policy.codes.resume):
        pause = "off — no pause/resume codes"
    else:
        pause = f"{policy.codes.pause} / {policy.codes.resume}"
        if not policy.manual_control:
            pause += " — not used while manual start/stop is not allowed"
    lines.append(PolicyLine("PCI pause/resume codes", pause, policy.codes_source.describe(), policy.pause_control))
    if not policy.enabled:
        lines.append(PolicyLine("Announcement", "not played \u2014 call recording is disabled", src, False))
    else:
        lines.append(PolicyLine("Announcement", "played to all parties when recording starts"
                                if policy.announcement else "not played", src, policy.announcement))
    if policy.email_recipient:
        sources = ", ".join(s.describe() for s in policy.email_sources)
        lines.append(PolicyLine("Email", f"sent to {policy.email_recipient}", sources, True))
    else:
        lines.append(PolicyLine("Email", f"not sent \u2014 {policy.email_block_reason}", "", False))
    return lines


def _product_flags() -> dict[str, dict[str, bool]]:
    products = db.session.scalars(db.select(Product)).all()
    return {str(p.id): {name: bool(getattr(p, name)) for name in CONFIG_FLAGS} for p in products}


def _prepare(form: AccountForm, obj: Account | None) -> None:
    form.customer_id.choices = choices(Customer, empty="\u2014 choose \u2014")
    form.product_id.choices = choices(Product, empty="\u2014 choose \u2014")
    form.dialing_rule_id.choices = choices(DialingRule, empty="None (the customer's, else the default codes)")
    if not form.is_submitted():
        form.config_editable.data = "1" if obj is not None and obj.override else "0"
    form.product_flags = _product_flags()
    # Editable only when Override is on AND the checkboxes were editable on the submitted page.
    form.editable = bool(form.override.data) and form.config_editable.data == "1"
    if not form.editable:
        # Show (and, when Override was just switched on, start from) the product's values.
        product = form.product_flags.get(form.product_id.data or "", {})
        for name in CONFIG_FLAGS:
            form[name].data = product.get(name, False)
    form.product_flags_json = json.dumps(form.product_flags)


def _payload(form: AccountForm, obj: Account | None) -> tuple[dict, str]:
    """The server decides what is saved: the flags only when Override is on."""
    payload, note = form.payload(), ""
    if payload["override"]:
        payload["call_recording"] = form.submitted_flags()
        if not form.editable and request.method == "POST":
            product = db.session.get(Product, payload["product_id"]) if isinstance(payload["product_id"], int) \
                else None
            if product is not None:
                note = (f" Override is on: the call-recording fields start from product {product.name}'s values;"
                        " change them and save.")
    return payload, note


area = Area(
    name="accounts",
    model=Account,
    form_class=AccountForm,
    noun="account",
    plural="Accounts",
    search_columns=(Account.number, Account.name, Account.email),
    order_by=(Account.number, Account.id),
    label=lambda obj: obj.number,
    prepare_form=_prepare,
    build_payload=_payload,
)
bp = area.blueprint()


@bp.context_processor
def _policy_panel():
    def policy_lines(account: Account) -> list[PolicyLine]:
        return explain_policy(account.effective_policy(get_settings()))
    return {"policy_lines": policy_lines}
