"""The admin's list / create / edit / delete pages; field rules come from callrec.services, shown per field."""
from __future__ import annotations

import html

import pytest
from webui_fixtures import admin, auth, field_error, form_post, logged_in, make_world, text_of  # noqa: F401


def _ids(app):
    return make_world(app)


AREAS = [
    # url, valid payload (may use {customer_class} etc.), model name, label shown in the list
    ("/customer-classes/", {"name": "Business", "notify_new_call_recording": "y"}, "CustomerClass", "Business"),
    ("/dialing-rules/", {"name": "Office", "record_start_code": "*71", "record_stop_code": "*72"}, "DialingRule",
     "Office"),
    ("/customers/", {"name": "Globex", "customer_class_id": "{customer_class}"}, "Customer", "Globex"),
    ("/products/", {"name": "Premium", "enabled": "y", "auto_record_incoming": "y"}, "Product", "Premium"),
    ("/accounts/", {"number": "2002", "customer_id": "{customer}", "product_id": "{product}",
                    "email": "b@example.com"}, "Account", "2002"),
]


def _fill(data: dict, ids: dict) -> dict:
    return {k: v.format(**ids) for k, v in data.items()}


def _model(name):
    import callrec.models as models

    return getattr(models, name)


@pytest.mark.parametrize(("url", "data", "model", "label"), AREAS)
def test_create_edit_and_delete_through_the_pages(app, logged_in, url, data, model, label):
    from callrec.models import db

    ids = _ids(app)
    response = form_post(logged_in, url + "new", _fill(data, ids))
    assert response.status_code == 302, text_of(response)
    object_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert "Created" in text_of(logged_in.get(response.headers["Location"]))
    assert label in text_of(logged_in.get(url))

    changed = dict(_fill(data, ids))
    key = "number" if "number" in changed else "name"
    changed[key] = label + "9"
    response = form_post(logged_in, f"{url}{object_id}", changed)
    assert response.status_code == 302
    assert label + "9" in text_of(logged_in.get(url))

    confirm = logged_in.get(f"{url}{object_id}/delete")
    assert "cannot be undone" in text_of(confirm)
    response = form_post(logged_in, f"{url}{object_id}/delete", {})
    assert response.status_code == 302 and response.headers["Location"] == url
    with app.app_context():
        assert db.session.get(_model(model), object_id) is None


@pytest.mark.parametrize(("url", "key", "used_by"), [
    ("/customer-classes/", "customer_class", "1 customers"),
    ("/customers/", "customer", "1 accounts"),
    ("/products/", "product", "1 accounts"),
])
def test_deleting_an_object_in_use_says_why_and_deletes_nothing(app, logged_in, url, key, used_by):
    from callrec.models import db

    ids = _ids(app)
    response = form_post(logged_in, f"{url}{ids[key]}/delete", {}, follow_redirects=True)
    page = text_of(response)
    assert f"still used by {used_by}; nothing was deleted" in page
    with app.app_context():
        model = {"customer_class": "CustomerClass", "customer": "Customer", "product": "Product"}[key]
        assert db.session.get(_model(model), ids[key]) is not None


def test_deleting_a_dialing_rule_in_use_says_why(app, logged_in):
    ids = _ids(app)
    response = form_post(logged_in, "/dialing-rules/new", {"name": "Office", "record_start_code": "*71",
                                                           "record_stop_code": "*72"})
    rule_id = int(response.headers["Location"].rsplit("/", 1)[1])
    form_post(logged_in, f"/customers/{ids['customer']}", {"name": "Acme", "customer_class_id": ids["customer_class"],
                                                           "dialing_rule_id": rule_id})
    page = text_of(form_post(logged_in, f"/dialing-rules/{rule_id}/delete", {}, follow_redirects=True))
    assert "This dialing rule is still used by 1 customers; nothing was deleted." in page


# Each rule lives in callrec.services; the page shows its message next to the field.
VALIDATION = [
    ("/customer-classes/new", {"name": ""}, "name", "A name is required."),
    ("/customer-classes/new", {"name": "x" * 121}, "name", "At most 120 characters."),
    ("/customer-classes/new", {"name": "Residential"}, "name", "This name is already in use."),
    ("/dialing-rules/new", {"name": "R", "record_start_code": "", "record_stop_code": "*2"}, "record_start_code",
     "Enter a code of digits, * and #."),
    ("/dialing-rules/new", {"name": "R", "record_start_code": "*1a", "record_stop_code": "*2"}, "record_start_code",
     "Only digits, * and # are allowed."),
    ("/dialing-rules/new", {"name": "R", "record_start_code": "*1", "record_stop_code": "*1"}, "record_stop_code",
     "The stop code must differ from the start code."),
    ("/dialing-rules/new", {"name": "R", "record_start_code": "*1", "record_stop_code": "*12"}, "record_stop_code",
     "One code must not be a prefix of the other."),
    ("/dialing-rules/new", {"name": "R", "record_start_code": "*123456789", "record_stop_code": "*2"},
     "record_start_code", "A code has at most 8 characters."),
    ("/customers/new", {"name": "C", "customer_class_id": ""}, "customer_class_id", "A customer class is required."),
    ("/customers/new", {"name": "C", "customer_class_id": "9999"}, "customer_class_id", "Unknown customer class."),
    ("/customers/new", {"name": "C", "customer_class_id": "{customer_class}", "dialing_rule_id": "77"},
     "dialing_rule_id", "Unknown dialing rule."),
    ("/products/new", {"name": "  "}, "name", "A name is required."),
    ("/products/new", {"name": "Basic"}, "name", "This name is already in use."),
    ("/accounts/new", {"number": "10 01", "customer_id": "{customer}", "product_id": "{product}"}, "number",
     "Use 1–64 letters, digits or . _ + - (the SIP user or phone number)."),
    ("/accounts/new", {"number": "1001", "customer_id": "{customer}", "product_id": "{product}"}, "number",
     "This account number is already in use."),
    ("/accounts/new", {"number": "2002", "customer_id": "{customer}", "product_id": "{product}",
                       "email": "not-an-email"}, "email", "Enter a valid email address."),
    ("/accounts/new", {"number": "2002", "customer_id": "", "product_id": "{product}"}, "customer_id",
     "A customer is required."),
    ("/accounts/new", {"number": "2002", "customer_id": "{customer}", "product_id": "abc"}, "product_id",
     "Unknown product."),
]


@pytest.mark.parametrize(("url", "data", "field", "message"), VALIDATION)
def test_each_field_error_is_shown_next_to_its_field(app, logged_in, url, data, field, message):
    ids = _ids(app)
    response = form_post(logged_in, url, _fill(data, ids))
    assert response.status_code == 422
    assert field_error(response, field) == message
    # the submitted values are kept
    for key, value in _fill(data, ids).items():
        if key in ("name", "number", "email") and value.strip():
            assert html.escape(value) in response.get_data(as_text=True)


def test_several_errors_show_at_once(app, logged_in):
    response = form_post(logged_in, "/dialing-rules/new", {"name": "", "record_start_code": "x",
                                                           "record_stop_code": "y"})
    assert field_error(response, "name") == "A name is required."
    assert field_error(response, "record_start_code") == "Only digits, * and # are allowed."
    assert field_error(response, "record_stop_code") == "Only digits, * and # are allowed."


def test_failed_edit_changes_nothing(app, logged_in):
    from callrec.models import CustomerClass, db

    ids = _ids(app)
    response = form_post(logged_in, f"/customer-classes/{ids['customer_class']}", {"name": ""})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(CustomerClass, ids["customer_class"]).name == "Residential"


def test_lists_search_by_name(app, logged_in):
    from callrec import services
    from callrec.models import Product

    with app.app_context():
        for name in ("Gold 100%", "Silver", "Gold_plus"):
            services.create(Product, {"name": name})
    page = text_of(logged_in.get("/products/?q=gold"))
    assert "Gold 100%" in page and "Gold_plus" in page and "Silver" not in page
    page = text_of(logged_in.get("/products/?q=100%25"))  # LIKE wildcards are taken literally
    assert "Gold 100%" in page and "Gold_plus" not in page
    assert "No products match" in text_of(logged_in.get("/products/?q=zzz"))


def test_accounts_search_by_number_name_or_email(app, logged_in):
    make_world(app)
    assert "1001" in text_of(logged_in.get("/accounts/?q=example.com"))
    assert "No accounts match" in text_of(logged_in.get("/accounts/?q=nobody"))


def test_lists_are_paginated(app, logged_in):
    from callrec import services
    from callrec.models import CustomerClass

    with app.app_context():
        for i in range(45):
            services.create(CustomerClass, {"name": f"Class {i:02d}"})
    first = text_of(logged_in.get("/customer-classes/"))
    assert "Class 00" in first and "Class 19" in first and "Class 20" not in first
    assert "Page 1 of 3 (45)" in first
    third = text_of(logged_in.get("/customer-classes/?page=3"))
    assert "Class 44" in third and "Class 39" not in third
    assert "Class 00" in text_of(logged_in.get("/customer-classes/?page=x"))
    assert "No customer classes yet" not in text_of(logged_in.get("/customer-classes/?page=99"))


def test_unknown_object_is_a_404_page(logged_in):
    for url in ("/products/999", "/accounts/999/delete", "/customers/999"):
        response = logged_in.get(url)
        assert response.status_code == 404
        assert "no such page" in text_of(response)
