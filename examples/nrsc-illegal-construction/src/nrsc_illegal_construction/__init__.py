"""Illegal construction 违法建设: an example plugin from outside the platform.

It imports only ``webapp.plugin_api`` (the plugin contract's leaf module) and
is found through the ``nrsc.plugins`` entry point declared in pyproject.toml.
"""
from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any, Mapping

from nrsc_illegal_construction.detector import DEFAULTS, blue_roof
from webapp.plugin_api import (
    AlertView,
    Clock,
    Detector,
    Domain,
    EventType,
    GisContext,
    Prejudgement,
    Routing,
    RoutingContext,
    SimpleDetector,
    SlaClocks,
    hookimpl,
)

CODE = "illegal_construction"
# Hongsipu keeps China Standard Time all year.
LOCAL_TZ = timezone(timedelta(hours=8))

DOMAIN = Domain(
    code=CODE, name_zh="违法建设", name_en="Illegal construction",
    colour="#6a1b9a", icon="building",
    # Building without approval is a land-use violation, watched by the
    # natural-resources group; 住房和城乡建设局 leads the handling.
    working_group=1,
    event_types=(
        EventType("steel_shed", "彩钢棚、临时建筑", "Steel shed or temporary building"),
        EventType("new_building", "新建建筑", "New building"),
        EventType("extension", "违规扩建、加层", "Unauthorised extension"),
    ),
    sla=SlaClocks(review=Clock.parse("30m"), accept=Clock.parse("2h"),
                  arrive=Clock.parse("1wd"), feedback=Clock.parse("3wd"), basis="working"),
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    if alert.domain != CODE:
        return None  # answer only for our own domain
    township = (context.township_unit,) if context.township_unit else ()
    return Routing(lead_unit="housing_construction", cooperating=township,
                   working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
                   note="住房和城乡建设局核实建设审批手续，乡镇配合制止和拆除。")


def _valid_on(attributes: Mapping[str, Any], day) -> bool:
    start, end = attributes.get("valid_from"), attributes.get("valid_to")
    return (not start or str(start)[:10] <= day.isoformat()) and (not end or day.isoformat() <= str(end)[:10])


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    if alert.domain != CODE:
        return None
    when = alert.occurred_at if alert.occurred_at.tzinfo else alert.occurred_at.replace(tzinfo=timezone.utc)
    day = when.astimezone(LOCAL_TZ).date()
    approved = [f for f in context.layer("construction_approval", inside=True) if _valid_on(f.attributes, day)]
    if approved:
        return Prejudgement("low", (f"位于有效建设审批范围内：{approved[0].name or approved[0].code}",))
    farmland = context.layer("basic_farmland", inside=True)
    if farmland:
        return Prejudgement("high", (f"疑似在永久基本农田 {farmland[0].name or farmland[0].code} 上违法建设",))
    return Prejudgement("medium", ("未匹配到建设审批，需核实建设手续",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    if alert.domain != CODE:
        return []
    return [
        "是否为新出现的建筑、彩钢棚或扩建部分？",
        "对照图层：是否有有效的建设审批？",
        "是否占用永久基本农田或耕地？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    # Found in this package's templates/ folder, which the core adds to its loader.
    return f"orders/pdf/{CODE}.html" if domain == CODE else None


@hookimpl
def register_detectors(settings: Mapping[str, Any]) -> list[Detector]:
    params = {**DEFAULTS, **settings.get("blue_roof", {})}
    return [SimpleDetector(name="blue_roof", domains=(CODE,), params=params,
                           function=lambda frames, context: blue_roof(frames, context, **params))]


__all__ = ["DOMAIN", "blue_roof"]
