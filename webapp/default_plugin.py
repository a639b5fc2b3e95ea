"""The core's own answers, registered as a plugin that always answers last."""
from __future__ import annotations

from webapp.plugin_api import (
    AlertView,
    GisContext,
    Prejudgement,
    Routing,
    RoutingContext,
    hookimpl,
)

DEFAULT_LEAD = "natural_resources"


@hookimpl(trylast=True)
def route_alert(alert: AlertView, context: RoutingContext) -> Routing:
    # A domain without a routing rule goes to the leading-group office's unit,
    # with the township cooperating, so nothing confirmed is left unrouted.
    cooperating = (context.township_unit,) if context.township_unit else ()
    return Routing(lead_unit=DEFAULT_LEAD, working_group=1, cooperating=cooperating,
                   note="默认派发：领导小组办公室所在单位")


@hookimpl(trylast=True)
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement:
    return Prejudgement(level="medium", reasons=("无领域预判规则，需人工研判",))


@hookimpl(trylast=True)
def workorder_template(domain: str) -> str:
    return "orders/pdf/base.html"
