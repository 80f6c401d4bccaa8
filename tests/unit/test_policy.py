"""The effective-policy table (DESIGN §2): override, Enabled, auto flags, dialing-rule precedence, email."""
from __future__ import annotations

import dataclasses

import pytest

from callrec.policy import (AccountFacts, CodePair, CustomerFacts, DialingRuleFacts, EmailBlock, ProductFacts,
                            RecordingConfig, SettingsFacts, resolve_policy)

EVERYTHING = RecordingConfig(enabled=True, auto_record_outgoing=True, auto_record_incoming=True,
                             auto_record_redirected=True, manual_control=True, announcement=True,
                             email_delivery=True)
NOTHING = RecordingConfig()


def make(account_config=NOTHING, override=False, product_config=EVERYTHING, email="owner@example.test",
         class_notifies=True, delivery_enabled=True, account_rule=None, customer_rule=None):
    return resolve_policy(
        account=AccountFacts("1000", email, override, account_config, 7),
        product=ProductFacts("Basic", product_config),
        customer=CustomerFacts("Acme", "Residential", class_notifies, customer_rule),
        settings=SettingsFacts(delivery_enabled, CodePair("*44", "*45")),
        account_rule=account_rule,
    )


def test_without_override_the_product_configuration_applies():
    policy = make(account_config=NOTHING, override=False, product_config=EVERYTHING)
    assert policy.configured == EVERYTHING
    assert policy.config_source.describe() == "product Basic"


def test_with_override_the_accounts_own_configuration_applies():
    own = RecordingConfig(enabled=True, auto_record_incoming=True)
    policy = make(account_config=own, override=True, product_config=EVERYTHING)
    assert policy.configured == own
    assert policy.config_source.kind == "account"
    assert not policy.auto_record_outgoing and policy.auto_record_incoming


@pytest.mark.parametrize("flag", ["auto_record_outgoing", "auto_record_incoming", "auto_record_redirected",
                                  "manual_control", "announcement"])
def test_enabled_off_means_no_auto_and_no_manual_recording(flag):
    config = dataclasses.replace(EVERYTHING, enabled=False)
    policy = make(product_config=config)
    assert getattr(policy, flag) is False
    assert policy.email_recipient is None
    assert policy.email_block is EmailBlock.RECORDING_DISABLED


@pytest.mark.parametrize(("flag", "direction"), [
    ("auto_record_outgoing", "outgoing"),
    ("auto_record_incoming", "incoming"),
    ("auto_record_redirected", "redirected"),
])
def test_each_auto_flag_alone_records_only_its_direction(flag, direction):
    config = RecordingConfig(enabled=True, **{flag: True})
    policy = make(product_config=config)
    for other in ("outgoing", "incoming", "redirected"):
        assert policy.auto_record(other) is (other == direction)


def test_unknown_direction_is_never_auto_recorded():
    assert make().auto_record("voicemail") is False


OFFICE = DialingRuleFacts("Office", CodePair("*71", "*72"))
HOME = DialingRuleFacts("Home", CodePair("#1", "#2"))


@pytest.mark.parametrize(("account_rule", "customer_rule", "codes", "source"), [
    (OFFICE, HOME, CodePair("*71", "*72"), "dialing rule Office, assigned to the account"),
    (None, HOME, CodePair("#1", "#2"), "dialing rule Home, assigned to the customer"),
    (None, None, CodePair("*44", "*45"), "global settings"),
])
def test_codes_come_from_the_account_rule_then_the_customer_rule_then_the_settings(
        account_rule, customer_rule, codes, source):
    policy = make(account_rule=account_rule, customer_rule=customer_rule)
    assert policy.codes == codes
    assert policy.codes_source.describe() == source


def test_all_four_email_conditions_give_the_accounts_email_as_recipient():
    policy = make()
    assert policy.email_recipient == "owner@example.test"
    assert policy.email_block is None and policy.email_block_reason is None


@pytest.mark.parametrize(("changes", "block", "words"), [
    (dict(product_config=dataclasses.replace(EVERYTHING, email_delivery=False)), EmailBlock.POLICY_EMAIL_OFF,
     "Send the call recording via email"),
    (dict(delivery_enabled=False), EmailBlock.RECORDS_DELIVERY_DISABLED, "RecordsDelivery.Enabled"),
    (dict(class_notifies=False), EmailBlock.CLASS_NOTIFICATION_OFF,
     "customer class Residential has 'New call recording is available' off"),
    (dict(email=""), EmailBlock.NO_EMAIL, "has no email"),
    (dict(email="   "), EmailBlock.NO_EMAIL, "has no email"),
])
def test_each_missing_email_condition_gives_no_recipient_and_names_the_condition(changes, block, words):
    policy = make(**changes)
    assert policy.email_recipient is None
    assert policy.email_block is block
    assert words in policy.email_block_reason


def test_effective_policy_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().codes = CodePair("1", "2")  # type: ignore[misc]


def test_serialised_policy_names_the_source_of_every_value():
    data = make(override=True, account_config=EVERYTHING, customer_rule=HOME).to_dict()
    assert all(v["source"]["kind"] == "account" for v in data["call_recording"].values())
    assert data["codes"]["source"] == {"kind": "dialing_rule", "name": "Home", "via": "customer",
                                       "description": "dialing rule Home, assigned to the customer"}
    assert data["email"]["recipient"] == "owner@example.test"
