"""Geological hazards 地质灾害 (seed §五.2, working group 1).

The geology and mining office of 自然资源局 goes on site with the township
and 应急管理局 within one hour of dispatch; an emergency response may start.
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

CODE = "geohazard"
# A registered hazard point's watch area; beyond it a change is less likely a hazard.
HAZARD_RADIUS_M = 500

DOMAIN = Domain(
    code=CODE, name_zh="地质灾害", name_en="Geological hazards",
    colour="#ef6c00", icon="mountain", working_group=1,
    event_types=(
        EventType("landslide", "滑坡", "Landslide"),
        EventType("collapse", "崩塌", "Collapse"),
        EventType("debris_flow", "泥石流", "Debris flow"),
        EventType("ground_crack", "地裂缝、地面塌陷", "Ground crack or subsidence"),
    ),
    sla=EMERGENCY_CLOCKS, urgent=True, emergency_allowed=True,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("geohazard_point")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="natural_resources",
        lead_offices=("natural_resources.geology_mining_office",),
        cooperating=with_township((), context) + ("emergency_management",),
        working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
        note="地质矿产管理室联合乡镇、应急管理局在派发后 1 小时内赴现场处置。" + township_note(context))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    points = near(context, "geohazard_point", HAZARD_RADIUS_M)
    if points:
        return Prejudgement("high", tuple(
            f"地质灾害隐患点 {label(p)} {where(p)}" for p in points[:3]))
    return Prejudgement("medium", (f"{HAZARD_RADIUS_M} 米内无已登记的地质灾害隐患点，需人工研判",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "与隐患点历史图像比对：是否出现新的崩塌、滑坡、裂缝或泥石流痕迹？",
        "是否威胁道路、房屋或人员安全？",
        "是否需要启动应急响应？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)


@hookimpl
def register_detectors(settings) -> list:
    from plugins.geohazard import detectors
    return detectors.detectors(settings)
