"""Products: the call-recording configuration accounts get unless they override it."""
from callrec.models import Product

from .crud import Area
from .forms import ProductForm

area = Area(
    name="products",
    model=Product,
    form_class=ProductForm,
    noun="product",
    plural="Products",
    search_columns=(Product.name,),
    order_by=(Product.name, Product.id),
)
bp = area.blueprint()
