"""Customer classes: the "New call recording is available" notification."""
from callrec.models import CustomerClass

from .crud import Area
from .forms import CustomerClassForm

area = Area(
    name="customer_classes",
    model=CustomerClass,
    form_class=CustomerClassForm,
    noun="customer class",
    plural="Customer classes",
    search_columns=(CustomerClass.name,),
    order_by=(CustomerClass.name, CustomerClass.id),
)
bp = area.blueprint()
