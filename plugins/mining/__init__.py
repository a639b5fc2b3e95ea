"""Mineral resources protection 矿产资源保护 (seed §五.3, working group 1).

What matters is machinery working outside a valid mining permit and outside
approved construction; the lead keeps video evidence, then forwards to
综合执法局 and the township to stop the violation.
"""
from __future__ import annotations

from plugins._common import (
    ROUTINE_CLOCKS,
    land_use,
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
    local_date,
    township_note,
    valid_on,
    validity,
    with_township,
)

CODE = "mining"
DOMAIN = Domain(
    code=CODE, name_zh="矿产资源保护", name_en="Mineral resources protection",
    colour="#8d6e63", icon="pickaxe", working_group=1,
    event_types=(
        EventType("illegal_mining", "盗采矿产资源", "Illegal mining"),
        EventType("excavator", "挖掘机、装载机作业", "Excavator or loader at work"),
        EventType("ore_transport", "运矿车辆", "Ore transport"),
    ),
    sla=ROUTINE_CLOCKS,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("mining_permit", "construction_approval", "land_use_plan")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="natural_resources",
        lead_offices=("natural_resources.enforcement", "natural_resources.geology_mining_office"),
        forward_to=with_township(("comprehensive_enforcement",), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
        note=("执法队、地质矿产管理室判别违法事实、事发区域，留足视频证据，"
              "转派综合执法局和辖区乡镇查处。" + township_note(context)))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    day = local_date(alert.occurred_at)
    permits = context.layer("mining_permit", inside=True)
    valid = [f for f in permits if valid_on(f, day)]
    if valid:
        return Prejudgement("low", (
            f"位于有效采矿权范围内：{label(valid[0])}（有效期 {validity(valid[0])}）",))
    approved = [f for f in context.layer("construction_approval", inside=True) if valid_on(f, day)]
    if approved:
        return Prejudgement("low", (f"位于批准施工范围内：{label(approved[0])}",))
    reasons = ["疑似违法：机械在有效采矿权范围外作业"]
    reasons += [f"所在采矿权 {label(f)} 不在有效期内（{validity(f)}）" for f in permits]
    outside = sorted((f for f in context.layer("mining_permit", inside=False) if valid_on(f, day)),
                     key=lambda f: f.distance_m)
    if outside:
        reasons.append(f"距有效采矿权 {label(outside[0])} {outside[0].distance_m:.0f} 米")
    return Prejudgement("high", (*reasons, *land_use(context)))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "是否有挖掘机、装载机或运矿车辆在作业？",
        "对照采矿权图层：是否在有效采矿证范围内、是否在有效期内？",
        "是否在批准的施工范围内？",
        "是否已保存多个巡航周期的视频和截图证据？",
        "附近卡口是否有同时段的运输车辆记录？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)


@hookimpl
def register_detectors(settings) -> list:
    from plugins.mining import detectors
    return detectors.detectors(settings)
