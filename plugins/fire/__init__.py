"""Forest and grassland fire prevention 森林草原防火 (seed §五.4, working group 3).

Every fire alarm goes to the resources office of 林业和草原局 with the
event's township cooperating; an emergency response may start.
"""
from __future__ import annotations

from plugins._common import (
    EMERGENCY_CLOCKS,
    layers,
    template_for,
)
from webapp.plugin_api import (
    AlertView,
    Domain,
    EventType,
    GisContext,
    GisLayer,
    Prejudgement,
    Routing,
    RoutingContext,
    hookimpl,
    label,
    near,
    township_note,
    where,
    with_township,
)

CODE = "fire"
# How near a fire must be to endanger forest/grassland or a key enterprise.
FOREST_RADIUS_M = 500
ENTERPRISE_RADIUS_M = 1000

DOMAIN = Domain(
    code=CODE, name_zh="森林草原防火", name_en="Forest and grassland fire prevention",
    colour="#d32f2f", icon="flame", working_group=3,
    event_types=(
        # Frigate's labels for what its fire/smoke models see.
        EventType("fire", "火情", "Fire", external_labels=("fire",)),
        EventType("smoke", "烟雾", "Smoke", external_labels=("smoke",)),
    ),
    sla=EMERGENCY_CLOCKS, urgent=True, emergency_allowed=True,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("forest_grassland", "key_enterprise")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="forestry_grassland",
        lead_offices=("forestry_grassland.resources_office",),
        cooperating=with_township((), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
        note="林业和草原局资源管理室认定火情并确定所在乡镇，及时处置。" + township_note(context))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    reasons = [f"林草地 {label(f)} {where(f)}" for f in near(context, "forest_grassland", FOREST_RADIUS_M)[:2]]
    reasons += [f"重点企业 {label(f)} {where(f)}"
                for f in near(context, "key_enterprise", ENTERPRISE_RADIUS_M)[:2]]
    if reasons:
        return Prejudgement("high", tuple(reasons))
    # Every fire alarm is handled; without anything at risk nearby it is not raised.
    return Prejudgement("medium", ("周边无林草地和重点企业，核实是否为烧荒、炊烟或窑炉",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "烟雾是否从固定点位持续升起？",
        "是否排除了已知的窑炉、炊烟、秸秆堆和扬尘？",
        "火点所在乡镇、周边林草地和重点企业是否已确认？",
        "是否需要启动应急响应？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)


@hookimpl
def register_detectors(settings) -> list:
    from plugins.fire import detectors
    return detectors.detectors(settings)
