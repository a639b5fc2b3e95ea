"""Farmland protection 耕地保护 (seed §五.1, working group 1).

The enforcement team and the farmland office of 自然资源局 establish truth,
place and the person responsible, then forward to 综合执法局 and the township
inside the same order.
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
    with_township,
)

CODE = "farmland"
DOMAIN = Domain(
    code=CODE, name_zh="耕地保护", name_en="Farmland protection",
    colour="#c49000", icon="wheat", working_group=1,
    event_types=(
        EventType("farmland_damage", "破坏耕地", "Farmland damage"),
        EventType("illegal_occupation", "非法占用耕地", "Illegal occupation of farmland"),
        EventType("illegal_building", "耕地上违法建房", "Illegal building on farmland"),
        EventType("soil_removal", "挖土取土", "Soil removal"),
    ),
    sla=ROUTINE_CLOCKS,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("construction_approval", "basic_farmland", "cultivated_land", "land_use_plan")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="natural_resources",
        lead_offices=("natural_resources.enforcement", "natural_resources.farmland_office"),
        forward_to=with_township(("comprehensive_enforcement",), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
        note=("执法队、耕地保护监督室确定事件真实性、发生位置和相关责任人后，"
              "转派综合执法局和辖区乡镇核实处置。" + township_note(context)))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    day = local_date(alert.occurred_at)
    approved = [f for f in context.layer("construction_approval", inside=True) if valid_on(f, day)]
    if approved:
        return Prejudgement("low", (f"位于有效用地批准范围内：{label(approved[0])}", *land_use(context)))
    basic = context.layer("basic_farmland", inside=True)
    if basic:
        return Prejudgement("high", (
            f"疑似违法占用永久基本农田：{label(basic[0])}，无有效用地批准", *land_use(context)))
    cultivated = context.layer("cultivated_land", inside=True)
    if cultivated:
        return Prejudgement("medium", (
            f"位于耕地图斑 {label(cultivated[0])} 内，无有效用地批准", *land_use(context)))
    return Prejudgement("medium", ("未匹配到耕地图斑，需人工核实地类", *land_use(context)))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "图像中是否有挖掘、堆土、硬化或建房等占用耕地的行为？",
        "对照图层：是否位于永久基本农田或耕地图斑内？",
        "是否有有效的用地批准或设施农用地备案？",
        "与该预置位历史图像比对，是否为新发生的变化？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)


@hookimpl
def register_detectors(settings) -> list:
    from plugins.farmland import detectors
    return detectors.detectors(settings)
