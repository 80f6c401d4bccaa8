"""Customers: their customer class and optional dialing rule."""
from callrec.models import Customer, CustomerClass, DialingRule

from .crud import Area, choices
from .forms import CustomerForm


def _prepare(form: CustomerForm, obj) -> None:
    form.customer_class_id.choices = choices(CustomerClass, empty="— choose —")
    form.dialing_rule_id.choices = choices(DialingRule, empty="None (global default codes)")


area = Area(
    name="customers",
    model=Customer,
    form_class=CustomerForm,
    noun="customer",
    plural="Customers",
    search_columns=(Customer.name,),
    order_by=(Customer.name, Customer.id),
    prepare_form=_prepare,
)
bp = area.blueprint()
