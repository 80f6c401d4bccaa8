"""Dialing rules: the start/stop recording codes a customer or an account dials."""
from callrec.models import DialingRule

from .crud import Area
from .forms import DialingRuleForm

area = Area(
    name="dialing_rules",
    model=DialingRule,
    form_class=DialingRuleForm,
    noun="dialing rule",
    plural="Dialing rules",
    search_columns=(DialingRule.name, DialingRule.record_start_code, DialingRule.record_stop_code),
    order_by=(DialingRule.name, DialingRule.id),
)
bp = area.blueprint()
