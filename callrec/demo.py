"""Create the demo data set (callrec.demo_data) in the database; used by `make demo` and the tests."""
from __future__ import annotations

from sqlalchemy import select

from .demo_data import DEMO_ACCOUNTS
from .models import Account, Customer, CustomerClass, DialingRule, Product, db

PRODUCTS = {
    "Record everything": dict(enabled=True, auto_record_outgoing=True, auto_record_incoming=True,
                              auto_record_redirected=True, manual_control=True, announcement=True,
                              email_delivery=True),
    "Manual only": dict(enabled=True, manual_control=True, announcement=True, email_delivery=True),
    "No recording": dict(enabled=False),
}
CUSTOMERS = {
    # name: (customer class, notify, dialing rule)
    "Acme Ltd": ("Business", True, None),
    "Home Users": ("Residential", False, ("Home codes", "*71", "*72")),
}


def _get_or_create(model, name_field: str, key: str, **values):
    obj = db.session.scalar(select(model).where(getattr(model, name_field) == key))
    if obj is not None:
        return obj, 0
    obj = model(**{name_field: key}, **values)
    db.session.add(obj)
    db.session.flush()
    return obj, 1


def seed() -> int:
    """Create what is missing of the demo data; return how many objects were created."""
    created = 0
    products = {}
    for name, flags in PRODUCTS.items():
        products[name], n = _get_or_create(Product, "name", name, **flags)
        created += n
    customers = {}
    for name, (class_name, notify, rule) in CUSTOMERS.items():
        cls, n1 = _get_or_create(CustomerClass, "name", class_name, notify_new_call_recording=notify)
        rule_obj, n2 = (None, 0)
        if rule:
            rule_obj, n2 = _get_or_create(DialingRule, "name", rule[0], record_start_code=rule[1],
                                          record_stop_code=rule[2])
        customers[name], n3 = _get_or_create(Customer, "name", name, customer_class_id=cls.id,
                                             dialing_rule_id=rule_obj.id if rule_obj else None)
        created += n1 + n2 + n3
    for number, display, email, product, customer in DEMO_ACCOUNTS:
        _, n = _get_or_create(Account, "number", number, name=display, email=email,
                              product_id=products[product].id, customer_id=customers[customer].id)
        created += n
    db.session.commit()
    return created
