"""Ecological and environmental protection 生态环境保护 (seed §五.7, working group 4).

生态环境分局 leads; who cooperates depends on the event type: 农业农村局 for
straw burning, 住房和城乡建设局 for dust and garbage, always the township.

Straw burning counts natural time from dispatch (straw fires spread; the
plan asks for 第一时间 handling); the other event types keep office time.
"""
from __future__ import annotations

from plugins._common import (
    PROMPT_CLOCKS,
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

CODE = "ecology"
STRAW_BURNING, DUST, GARBAGE, POLLUTION = "straw_burning", "dust", "garbage", "pollution"
# Building sites this near are the likely source of dust.
SITE_RADIUS_M = 200
# Dumping here damages what the other domains protect.
PROTECTED_LAYERS = ("basic_farmland", "cultivated_land", "forest_grassland", "grazing_ban_zone")

DOMAIN = Domain(
    code=CODE, name_zh="生态环境保护", name_en="Ecological and environmental protection",
    colour="#00897b", icon="leaf", working_group=4,
    event_types=(
        EventType(STRAW_BURNING, "焚烧秸秆", "Straw burning", basis="natural"),
        EventType(DUST, "扬尘污染", "Dust pollution"),
        EventType(GARBAGE, "倾倒垃圾", "Garbage dumping"),
        EventType(POLLUTION, "其他环境污染", "Other pollution"),
    ),
    sla=PROMPT_CLOCKS,
)

COOPERATING_BY_EVENT = {
    STRAW_BURNING: ("agriculture_rural",),
    DUST: ("housing_construction",),
    GARBAGE: ("housing_construction",),
}


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("basic_farmland", "cultivated_land", "forest_grassland", "grazing_ban_zone", "construction_approval")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="ecology_environment",
        cooperating=with_township(COOPERATING_BY_EVENT.get(alert.event_type, ()), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.clocks_for(alert.event_type),
        note="生态环境分局牵头及时处置，相关部门和乡镇按职责配合。" + township_note(context))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    if alert.event_type == STRAW_BURNING:
        fields = context.layer("basic_farmland", inside=True) + context.layer("cultivated_land", inside=True)
        forest = near(context, "forest_grassland", 500)
        if forest:
            return Prejudgement("high", (f"林草地 {label(forest[0])} {where(forest[0])}，有引发火情的危险",))
        if fields:
            return Prejudgement("high", (f"在耕地 {label(fields[0])} 内焚烧秸秆",))
    elif alert.event_type == GARBAGE:
        protected = [f for layer in PROTECTED_LAYERS for f in context.layer(layer, inside=True)]
        if protected:
            return Prejudgement("high", (f"在 {label(protected[0])} 内倾倒垃圾",))
    elif alert.event_type == DUST:
        sites = near(context, "construction_approval", SITE_RADIUS_M)
        if sites:
            return Prejudgement("high", (f"施工项目 {label(sites[0])} {where(sites[0])}，核查扬尘防治措施",))
    return Prejudgement("medium", ("需人工核实污染来源和责任主体",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    lines = {
        STRAW_BURNING: ["燃烧物是否为秸秆？如为林草火情，改为森林草原防火领域。",
                        "是否位于耕地内，周边是否有林草地或村庄？"],
        DUST: ["扬尘来源是施工工地、裸露土方还是道路运输？",
               "是否有苫盖、洒水等防尘措施？"],
        GARBAGE: ["倾倒物是生活垃圾、建筑垃圾还是工业固废？",
                  "是否记录了倾倒车辆或人员线索？"],
    }.get(alert.event_type, ["污染类型和来源是否已识别？"])
    return [*lines, "事件所在乡镇是否已确认？"]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)


@hookimpl
def register_detectors(settings) -> list:
    from plugins.ecology import detectors
    return detectors.detectors(settings)
