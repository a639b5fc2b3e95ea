"""Grazing ban 封山禁牧 and wildlife protection 野生动植物保护 (seed §五.5, working group 3).

Mostly manual alerts. The resources office of 林业和草原局 judges the case,
forwards it to the township and confirms the township's handling.
"""
from __future__ import annotations

from datetime import date

from plugins._common import (
    ROUTINE_CLOCKS,
    layers,
    template_for,
)
from webapp.plugin_api import (
    AlertView,
    Domain,
    EventType,
    GisContext,
    GisFeature,
    GisLayer,
    Prejudgement,
    Routing,
    RoutingContext,
    hookimpl,
    label,
    local_date,
    township_note,
    with_township,
)

CODE = "grazing"
WILDLIFE = "wildlife"

DOMAIN = Domain(
    code=CODE, name_zh="封山禁牧", name_en="Grazing ban and wildlife protection",
    colour="#2e7d32", icon="sheep", working_group=3,
    event_types=(
        EventType("grazing", "禁牧区放牧", "Grazing in a ban zone"),
        EventType("illegal_grazing", "违规放牧、偷牧", "Illegal or covert grazing"),
        EventType(WILDLIFE, "野生动植物保护", "Wildlife protection"),
    ),
    sla=ROUTINE_CLOCKS,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("grazing_ban_zone", "forest_grassland")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="forestry_grassland",
        lead_offices=("forestry_grassland.resources_office",),
        forward_to=with_township((), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
        note="林业和草原局资源管理室判别后告知乡镇处置，并根据乡镇处置情况完成闭环。" + township_note(context))


def _month_day(text: object) -> tuple[int, int] | None:
    """'11-01' -> (11, 1); anything unreadable -> None."""
    try:
        month, day = (int(part) for part in str(text).strip().split("-"))
        date(2000, month, day)  # a leap year, so 02-29 is accepted
    except (TypeError, ValueError):
        return None
    return month, day


def ban_period(zone: GisFeature) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The zone's (start, end) as (month, day) pairs, or None for a year-round ban."""
    start = _month_day(zone.attributes.get("ban_start"))
    end = _month_day(zone.attributes.get("ban_end"))
    return (start, end) if start and end else None


def in_ban_period(zone: GisFeature, day: date) -> bool:
    period = ban_period(zone)
    if period is None:
        return True
    start, end = period
    today = (day.month, day.day)
    # A period such as 11-01..04-30 runs across the new year.
    return start <= today <= end if start <= end else today >= start or today <= end


def _period_text(zone: GisFeature) -> str:
    period = ban_period(zone)
    if period is None:
        return "全年禁牧"
    (sm, sd), (em, ed) = period
    return f"禁牧期 {sm:02d}-{sd:02d} 至 {em:02d}-{ed:02d}"


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    if alert.event_type == WILDLIFE:
        return _prejudge_wildlife(context)
    day = local_date(alert.occurred_at)
    zones = context.layer("grazing_ban_zone", inside=True)
    banned = [z for z in zones if in_ban_period(z, day)]
    if banned:
        return Prejudgement("high", (f"禁牧期内在禁牧区 {label(banned[0])} 放牧（{_period_text(banned[0])}）",))
    if zones:
        return Prejudgement("low", (f"位于禁牧区 {label(zones[0])}，但不在禁牧期内（{_period_text(zones[0])}）",))
    return Prejudgement("low", ("不在禁牧区内",))


def _prejudge_wildlife(context: GisContext) -> Prejudgement:
    habitat = context.layer("forest_grassland", inside=True) + context.layer("grazing_ban_zone", inside=True)
    if habitat:
        return Prejudgement("high", (f"位于 {label(habitat[0])} 内，疑似破坏野生动植物资源",))
    return Prejudgement("medium", ("需人工核实物种和行为",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    if alert.event_type == WILDLIFE:
        return [
            "是否涉及猎捕、采挖、运输或出售野生动植物？",
            "物种特征、数量和位置是否已记录？",
            "是否位于林草地或自然保护地内？",
        ]
    return [
        "图像中是否有成群牲畜？",
        "对照禁牧区图层和禁牧期：是否在禁牧区、禁牧期内？",
        "畜群规模、去向和畜主线索是否已记录？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)
