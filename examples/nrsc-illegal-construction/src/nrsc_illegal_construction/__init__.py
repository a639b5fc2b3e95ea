"""Illegal construction 违法建设: an example plugin from outside the platform.

It imports only ``webapp.plugin_api`` (the plugin contract's leaf module) and
is found through the ``nrsc.plugins`` entry point declared in pyproject.toml.
The host calls its alert hooks only for the domain it declares, so they need
no "is this my domain?" guard; dates and permit validity come from the plugin
API's helpers.
"""
from __future__ import annotations

from typing import Any, Mapping

from nrsc_illegal_construction.detector import DEFAULTS, blue_roof
from webapp.plugin_api import (
    AlertView,
    Clock,
    Detector,
    Domain,
    EventType,
    GisContext,
    GisLayer,
    Prejudgement,
    Routing,
    RoutingContext,
    SimpleDetector,
    SlaClocks,
    hookimpl,
    label,
    local_date,
    valid_on,
    with_township,
)

CODE = "illegal_construction"

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
def register_gis_layers() -> list[GisLayer]:
    # The layers the prejudgement reads. The built-in plugins declare the same
    # two identically; a declaration that differed would stop start-up.
    return [
        GisLayer("construction_approval", "建设审批", "Construction approval", "#8e24aa"),
        GisLayer("basic_farmland", "永久基本农田", "Basic farmland", "#f9a825"),
    ]


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(lead_unit="housing_construction", cooperating=with_township((), context),
                   working_group=DOMAIN.working_group, clocks=DOMAIN.sla,
                   note="住房和城乡建设局核实建设审批手续，乡镇配合制止和拆除。")


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    day = local_date(alert.occurred_at)
    approved = [f for f in context.layer("construction_approval", inside=True) if valid_on(f, day)]
    if approved:
        return Prejudgement("low", (f"位于有效建设审批范围内：{label(approved[0])}",))
    farmland = context.layer("basic_farmland", inside=True)
    if farmland:
        return Prejudgement("high", (f"疑似在永久基本农田 {label(farmland[0])} 上违法建设",))
    return Prejudgement("medium", ("未匹配到建设审批，需核实建设手续",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "是否为新出现的建筑、彩钢棚或扩建部分？",
        "对照图层：是否有有效的建设审批？",
        "是否占用永久基本农田或耕地？",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    # Found in this package's templates/ folder, which the core adds to its loader.
    return f"orders/pdf/{CODE}.html"


@hookimpl
def register_detectors(settings: Mapping[str, Any]) -> list[Detector]:
    params = {**DEFAULTS, **settings.get("blue_roof", {})}
    return [SimpleDetector(name="blue_roof", domains=(CODE,), params=params,
                           function=lambda frames, context: blue_roof(frames, context, **params))]


__all__ = ["DOMAIN", "blue_roof"]
