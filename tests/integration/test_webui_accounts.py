"""The account form's Override switch (as the seed describes it) and the effective policy panel."""
from __future__ import annotations

import re

import pytest
from webui_fixtures import admin, auth, form_post, logged_in, make_world, text_of  # noqa: F401

from callrec.policy import CONFIG_FLAGS


def _account(app, account_id):
    from callrec.models import Account, db

    with app.app_context():
        account = db.session.get(Account, account_id)
        return {"override": account.override, **{n: getattr(account, n) for n in CONFIG_FLAGS}}


def _base(ids, **extra):
    return {"number": "1001", "customer_id": ids["customer"], "product_id": ids["product"],
            "email": "a@example.com", **extra}


def _checkbox(page_html: str, name: str) -> str:
    return re.search(r'<input[^>]*name="%s"[^>]*>' % name, page_html).group(0)


def test_override_off_shows_the_products_values_read_only(app, logged_in):
    ids = make_world(app)  # product Basic: enabled, auto outgoing, email
    page = logged_in.get(f"/accounts/{ids['account']}").get_data(as_text=True)
    for name in CONFIG_FLAGS:
        box = _checkbox(page, name)
        assert "disabled" in box, name
        assert ("checked" in box) == (name in ("enabled", "auto_record_outgoing", "email_delivery")), name
    assert "Override is off: the product's values are shown and apply." in page


def test_override_off_ignores_submitted_flags(app, logged_in):
    ids = make_world(app)
    response = form_post(logged_in, f"/accounts/{ids['account']}", _base(ids, announcement="y", manual_control="y"))
    assert response.status_code == 302
    saved = _account(app, ids["account"])
    assert saved["override"] is False and saved["announcement"] is False and saved["manual_control"] is False


def test_switching_override_on_without_script_starts_from_the_products_values(app, logged_in):
    """Disabled checkboxes are not submitted: the server copies the product's values instead of all-off."""
    ids = make_world(app)
    response = form_post(logged_in, f"/accounts/{ids['account']}", _base(ids, override="y"))
    assert response.status_code == 302
    page = logged_in.get(response.headers["Location"])
    assert "start from product Basic's values; change them and save" in text_of(page)
    saved = _account(app, ids["account"])
    assert saved == {"override": True, "enabled": True, "auto_record_outgoing": True, "auto_record_incoming": False,
                     "auto_record_redirected": False, "manual_control": False, "announcement": False,
                     "email_delivery": True}
    html = page.get_data(as_text=True)
    assert "disabled" not in _checkbox(html, "announcement")  # editable now
    assert 'name="config_editable" type="hidden" value="1"' in html


def test_override_on_saves_the_accounts_own_flags(app, logged_in):
    ids = make_world(app)
    response = form_post(logged_in, f"/accounts/{ids['account']}",
                         _base(ids, override="y", config_editable="1", enabled="y", auto_record_incoming="y",
                               announcement="y"))
    assert response.status_code == 302
    assert _account(app, ids["account"]) == {
        "override": True, "enabled": True, "auto_record_outgoing": False, "auto_record_incoming": True,
        "auto_record_redirected": False, "manual_control": False, "announcement": True, "email_delivery": False}
    panel = text_of(logged_in.get(f"/accounts/{ids['account']}"))
    assert "Incoming calls: recorded (account 1001)" in panel
    assert "Outgoing calls: not recorded automatically (account 1001)" in panel


def test_create_account_with_override_on(app, logged_in):
    from callrec.models import Account, db

    ids = make_world(app)
    response = form_post(logged_in, "/accounts/new",
                         _base(ids, number="2002", override="y", config_editable="1", enabled="y",
                               manual_control="y"))
    assert response.status_code == 302
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.number == "2002"))
        assert account.override and account.manual_control and not account.auto_record_outgoing


def test_override_on_then_off_keeps_the_product_in_charge(app, logged_in):
    ids = make_world(app, override=True, call_recording={"enabled": False})
    assert "Call recording: disabled (account 1001)" in text_of(logged_in.get(f"/accounts/{ids['account']}"))
    form_post(logged_in, f"/accounts/{ids['account']}", _base(ids))
    assert "Call recording: enabled (product Basic)" in text_of(logged_in.get(f"/accounts/{ids['account']}"))


def _panel(logged_in, account_id) -> str:
    page = text_of(logged_in.get(f"/accounts/{account_id}"))
    return page[page.index("Effective policy"):]


def test_policy_panel_explains_every_outcome(app, logged_in):
    from callrec import services
    from callrec.models import Customer, DialingRule

    ids = make_world(app)
    with app.app_context():
        rule = services.create(DialingRule, {"name": "Office", "record_start_code": "*71", "record_stop_code": "*72"})
        services.update(services.get(Customer, ids["customer"]), {"dialing_rule_id": rule.id})
    panel = _panel(logged_in, ids["account"])
    for sentence in (
        "Call recording: enabled (product Basic)",
        "Outgoing calls: recorded (product Basic)",
        "Incoming calls: not recorded automatically (product Basic)",
        "Redirected calls: not recorded automatically (product Basic)",
        "Manual start/stop: not allowed (product Basic)",
        "Start/stop codes: *71 / *72 — not used while manual start/stop is not allowed "
        "(dialing rule Office, assigned to the customer)",
        "Announcement: not played (product Basic)",
        "Email: not sent — the global setting RecordsDelivery.Enabled is No",
    ):
        assert sentence in panel, sentence


@pytest.mark.parametrize(("setup", "sentence"), [
    ({"records_delivery": True}, "Email: not sent — customer class Residential has 'New call recording is "
                                 "available' off"),
    ({"records_delivery": True, "notify": True}, "Email: sent to a@example.com (product Basic, global settings, "
                                                 "customer Acme, account 1001)"),
    ({"records_delivery": True, "notify": True, "email": ""}, "Email: not sent — account 1001 has no email address"),
    ({"product": {"email_delivery": False}}, "Email: not sent — 'Send the call recording via email' is off "
                                             "(product Basic)"),
    ({"product": {"enabled": False}}, "Email: not sent — call recording is disabled (product Basic)"),
    ({"product": {"enabled": False}}, "Outgoing calls: not recorded — call recording is disabled (product Basic)"),
    ({}, "Start/stop codes: *44 / *45 — not used while manual start/stop is not allowed (global settings)"),
    ({"product": {"manual_control": True}}, "Start/stop codes: *44 / *45 (global settings)"),
    ({"product": {"manual_control": True}, "account_rule": True},
     "Start/stop codes: *81 / *82 (dialing rule Mine, assigned to the account)"),
    ({"product": {"announcement": True}}, "Announcement: played to all parties when recording starts "
                                          "(product Basic)"),
])
def test_policy_panel_sentences(app, logged_in, setup, sentence):
    from callrec import services
    from callrec.models import Account, CustomerClass, DialingRule, Product

    ids = make_world(app)
    with app.app_context():
        if setup.get("records_delivery"):
            services.update_settings({"records_delivery_enabled": True})
        if setup.get("notify"):
            services.update(services.get(CustomerClass, ids["customer_class"]), {"notify_new_call_recording": True})
        if "email" in setup:
            services.update(services.get(Account, ids["account"]), {"email": setup["email"]})
        if "product" in setup:
            services.update(services.get(Product, ids["product"]), {"call_recording": setup["product"]})
        if setup.get("account_rule"):
            rule = services.create(DialingRule, {"name": "Mine", "record_start_code": "*81",
                                                 "record_stop_code": "*82"})
            services.update(services.get(Account, ids["account"]), {"dialing_rule_id": rule.id})
    assert sentence in _panel(logged_in, ids["account"])


def test_account_page_offers_its_products_values_to_the_toggle_script(app, logged_in):
    ids = make_world(app)
    page = logged_in.get(f"/accounts/{ids['account']}").get_data(as_text=True)
    assert 'data-products="{&#34;' in page  # JSON, attribute-escaped
    assert "callrec.js" in page
