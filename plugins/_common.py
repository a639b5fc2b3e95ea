"""Small helpers the seven domain plugins share.

Plugins see the core only through ``webapp.plugin_api``; what they have in
common (the SLA tiers of DESIGN §6, dates in local time, distances to GIS
features) lives here so each plugin reads as its rule and nothing else.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from webapp.plugin_api import Clock, GisContext, GisFeature, RoutingContext, SlaClocks

# Hongsipu keeps China Standard Time all year (no DST), so a fixed offset is
# exact and spares plugins a tz database.
LOCAL_TZ = timezone(timedelta(hours=8))

# DESIGN §6: three tiers of clocks. Emergency domains count natural time.
EMERGENCY_CLOCKS = SlaClocks(
    review=Clock.parse("5m"), accept=Clock.parse("10m"), arrive=Clock.parse("60m"),
    feedback=Clock.parse("24h"), basis="natural")
PROMPT_CLOCKS = SlaClocks(
    review=Clock.parse("15m"), accept=Clock.parse("30m"), arrive=Clock.parse("4h"),
    feedback=Clock.parse("1wd"), basis="working")
ROUTINE_CLOCKS = SlaClocks(
    review=Clock.parse("30m"), accept=Clock.parse("2h"), arrive=Clock.parse("1wd"),
    feedback=Clock.parse("3wd"), basis="working")


def local_date(when: datetime) -> date:
    """The calendar day in Hongsipu; naive datetimes are UTC, as the core stores them."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(LOCAL_TZ).date()


def as_date(value: Any) -> date | None:
    """A date from a GIS attribute: a date, a datetime or an ISO string."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def valid_on(feature: GisFeature, day: date) -> bool:
    """Whether a permit or approval is in force on ``day``; a missing bound is open."""
    start = as_date(feature.attributes.get("valid_from"))
    end = as_date(feature.attributes.get("valid_to"))
    return (start is None or start <= day) and (end is None or day <= end)


def validity(feature: GisFeature) -> str:
    start = as_date(feature.attributes.get("valid_from"))
    end = as_date(feature.attributes.get("valid_to"))
    return f"{start or '…'} 至 {end or '…'}"


def near(context: GisContext, layer: str, metres: float) -> list[GisFeature]:
    """Features of ``layer`` containing the point or within ``metres``, nearest first."""
    found = [f for f in context.layer(layer) if f.inside or f.distance_m <= metres]
    return sorted(found, key=lambda f: (not f.inside, f.distance_m))


def label(feature: GisFeature) -> str:
    return feature.name or feature.code


def where(feature: GisFeature) -> str:
    """'范围内' or the distance, for reasons shown to the duty officer."""
    return "范围内" if feature.inside else f"附近（{feature.distance_m:.0f} 米）"


def land_use(context: GisContext) -> list[str]:
    """The land-use plan zone at the point, as a reason line."""
    return [f"用地规划：{f.attributes.get('zone') or label(f)}"
            for f in context.layer("land_use_plan", inside=True)]


def with_township(units: Iterable[str], context: RoutingContext) -> tuple[str, ...]:
    """``units`` plus the event's township unit when the core found one."""
    units = tuple(units)
    if context.township_unit and context.township_unit not in units:
        units += (context.township_unit,)
    return units


def township_note(context: RoutingContext) -> str:
    return "" if context.township_unit else "未能确定事件所在乡镇，请派发时补充。"


def template_for(domain: str) -> str:
    """Each plugin's work-order template lives under its own templates/ folder."""
    return f"orders/pdf/{domain}.html"
