"""Work safety 安全生产 (seed §五.6, working group 2).

应急管理局 watches key areas and key enterprises full-time, with the
township cooperating; an emergency response may start.

Accidents (``accident``) count natural time from dispatch; the other event
types keep office time.
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

CODE = "safety"
ACCIDENT = "accident"
# A key enterprise's site and its immediate surroundings.
ENTERPRISE_RADIUS_M = 300

DOMAIN = Domain(
    code=CODE, name_zh="安全生产", name_en="Work safety",
    colour="#1565c0", icon="helmet", working_group=2,
    event_types=(
        EventType("unsafe_operation", "违规作业", "Unsafe operation"),
        EventType("hot_work", "违规动火", "Unauthorised hot work"),
        EventType("hazardous_chemicals", "危险化学品隐患", "Hazardous chemicals"),
        EventType(ACCIDENT, "生产安全事故", "Accident", basis="natural"),
    ),
    sla=PROMPT_CLOCKS, emergency_allowed=True,
)


@hookimpl
def register_domains() -> list[Domain]:
    return [DOMAIN]


@hookimpl
def register_gis_layers() -> list[GisLayer]:
    return layers("key_enterprise")


@hookimpl
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    return Routing(
        lead_unit="emergency_management",
        cooperating=with_township((), context),
        working_group=DOMAIN.working_group, clocks=DOMAIN.clocks_for(alert.event_type),
        note="应急管理局核查处置，必要时启动应急响应。" + township_note(context))


@hookimpl
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    reasons = ["疑似发生生产安全事故"] if alert.event_type == ACCIDENT else []
    reasons += [f"重点企业 {label(f)} {where(f)}" for f in near(context, "key_enterprise", ENTERPRISE_RADIUS_M)[:2]]
    if reasons:
        return Prejudgement("high", tuple(reasons))
    return Prejudgement("medium", ("不在重点企业范围内，需人工核实作业主体",))


@hookimpl
def review_checklist(alert: AlertView) -> list[str]:
    return [
        "是否位于重点区域或重点企业？",
        "是否有违规作业、违规动火或危险化学品隐患？",
        "是否有人员伤亡或事故迹象？如有，立即报告并判断是否启动应急响应。",
    ]


@hookimpl
def workorder_template(domain: str) -> str | None:
    return template_for(CODE)
