"""The only module a plugin imports from the core.

It holds the ``hookimpl`` marker and the plain dataclasses exchanged with the
core. It imports nothing from the rest of ``webapp`` so that a plugin never
reaches a database session or an ORM object.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Literal, Mapping, Protocol, Sequence

import pluggy

PROJECT_NAME = "nrsc"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

TimeBasis = Literal["natural", "working"]
PrejudgementLevel = Literal["low", "medium", "high"]
GeometryKind = Literal["polygon", "point", "line"]

# Hongsipu keeps China Standard Time all year (no DST), so a fixed offset is
# exact and spares plugins a tz database.
LOCAL_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Clock:
    """A deadline length. ``working_days`` only counts on a working-time basis."""

    minutes: int = 0
    working_days: int = 0

    def __post_init__(self) -> None:
        if self.minutes < 0 or self.working_days < 0:
            raise ValueError("a clock cannot be negative")
        if self.minutes == 0 and self.working_days == 0:
            raise ValueError("a clock needs a length")

    @classmethod
    def parse(cls, text: str) -> "Clock":
        """Parse ``"5m"``, ``"4h"``, ``"24h"`` or ``"3wd"`` (working days)."""
        text = text.strip().lower()
        for suffix, factory in (
            ("wd", lambda n: cls(working_days=n)),
            ("h", lambda n: cls(minutes=60 * n)),
            ("m", lambda n: cls(minutes=n)),
        ):
            if text.endswith(suffix) and text[: -len(suffix)].isdigit():
                return factory(int(text[: -len(suffix)]))
        raise ValueError(f"cannot read clock {text!r}: use e.g. 5m, 4h or 3wd")

    def __str__(self) -> str:
        if self.working_days:
            return f"{self.working_days}wd"
        if self.minutes % 60 == 0:
            return f"{self.minutes // 60}h"
        return f"{self.minutes}m"


@dataclass(frozen=True)
class SlaClocks:
    """The four clocks of a domain. Review starts at the alert's creation and
    always counts natural time (the duty office works 24/7); accept, arrive and
    feedback all start at dispatch and count on ``basis``."""

    review: Clock
    accept: Clock
    arrive: Clock
    feedback: Clock
    basis: TimeBasis = "working"


@dataclass(frozen=True)
class EventType:
    """One kind of event of a domain. ``external_labels`` are the labels other
    systems give it (e.g. Frigate's ``smoke``): an alert arriving under such a
    label is taken in as this domain and event type."""

    code: str
    name_zh: str
    name_en: str
    external_labels: tuple[str, ...] = ()
    # The time basis of this event type's clocks when it differs from its
    # domain's: e.g. safety accidents count natural time (None: the domain's).
    basis: TimeBasis | None = None


@dataclass(frozen=True)
class Domain:
    """A supervision domain, declared by exactly one plugin."""

    code: str
    name_zh: str
    name_en: str
    colour: str
    icon: str
    working_group: int
    event_types: tuple[EventType, ...]
    sla: SlaClocks
    urgent: bool = False
    emergency_allowed: bool = False

    def event_type(self, code: str) -> EventType | None:
        return next((e for e in self.event_types if e.code == code), None)

    def clocks_for(self, event_type: str | None) -> SlaClocks:
        """The domain's clocks on the event type's time basis."""
        event = self.event_type(event_type) if event_type else None
        if event is None or event.basis is None or event.basis == self.sla.basis:
            return self.sla
        return replace(self.sla, basis=event.basis)


@dataclass(frozen=True)
class GisLayer:
    """A GIS layer a plugin needs (parcels or zones it reads in prejudgement).

    Several plugins may declare the same layer if their declarations are
    identical; two different declarations of one code stop start-up."""

    code: str
    name_zh: str
    name_en: str
    colour: str
    geometry: GeometryKind = "polygon"


@dataclass(frozen=True)
class GisFeature:
    """A parcel or zone at or near an alert's point."""

    layer: str
    code: str
    name: str
    inside: bool
    distance_m: float
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GisContext:
    township_code: str | None
    township_name: str | None
    features: tuple[GisFeature, ...] = ()

    def layer(self, name: str, *, inside: bool | None = None) -> list[GisFeature]:
        return [
            f for f in self.features
            if f.layer == name and (inside is None or f.inside == inside)
        ]


@dataclass(frozen=True)
class AlertView:
    """A read-only view of an alert handed to plugins."""

    domain: str
    event_type: str
    lat: float
    lon: float
    occurred_at: datetime
    id: int | None = None
    source: str | None = None
    camera_code: str | None = None
    preset: int | None = None
    label: str | None = None
    score: float | None = None
    text: str | None = None
    manual: bool = False
    location_estimated: bool = False
    occurrences: int = 1


@dataclass(frozen=True)
class RoutingContext:
    """What the core knows when it routes: the event's township (by its
    boundary) and the unit that answers for that township."""

    township_code: str | None
    township_unit: str | None
    gis: GisContext | None = None


@dataclass(frozen=True)
class Routing:
    """Who handles a confirmed alert. Units are named by their codes."""

    lead_unit: str
    working_group: int
    lead_offices: tuple[str, ...] = ()
    cooperating: tuple[str, ...] = ()
    forward_to: tuple[str, ...] = ()
    clocks: SlaClocks | None = None
    note: str = ""


@dataclass(frozen=True)
class Prejudgement:
    level: PrejudgementLevel
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectionContext:
    camera_code: str
    preset: int | None = None
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None
    captured_at: datetime | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # What a detector compares against (all optional; a detector that needs
    # one it lacks returns nothing rather than guessing):
    # the preset's reference image (a decoded frame, same view),
    reference: Any = None
    # pixels to ignore: a boolean HxW array or normalised (x, y) polygons,
    masks: Any = None
    # the previous visit's frames of this preset (oldest first),
    previous_frames: Sequence[Any] = ()
    # one frame (the last) of each earlier visit of this preset, oldest first,
    # the last one being the previous visit's (at most a few, within the
    # confirmation window): for slow events a burst is too short to show,
    earlier_visits: Sequence[Any] = ()
    # metres on the ground per frame pixel: one figure or one per image row
    # (top to bottom), from geolocation.
    ground_scale: float | Sequence[float] | None = None


@dataclass(frozen=True)
class Detection:
    domain: str
    event_type: str
    label: str
    score: float
    # Normalised (x1, y1, x2, y2) in 0..1 of the frame.
    box: tuple[float, float, float, float] | None = None
    frame_index: int = 0
    # The detector's name, the changed area on the ground when the scale is
    # known, and cues behind the score (kept with the alert as evidence).
    detector: str = ""
    area_m2: float | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    name: str
    domains: Sequence[str]
    params: Mapping[str, Any]

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]: ...


@dataclass(frozen=True)
class SimpleDetector:
    """A detector made of a function, for plugins that need no state."""

    name: str
    domains: tuple[str, ...]
    function: Callable[[Sequence[Any], DetectionContext], list[Detection]]
    params: Mapping[str, Any] = field(default_factory=dict)

    def detect(self, frames: Sequence[Any], context: DetectionContext) -> list[Detection]:
        return self.function(frames, context)


@dataclass(frozen=True)
class Message:
    channel: str
    target: str
    title: str
    body: str
    link: str | None = None
    idempotency_key: str | None = None
    # A DingTalk robot's signing secret; kept out of repr so it is never logged.
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    detail: str = ""
    retry: bool = True


class Notifier(Protocol):
    channel: str

    def send(self, message: Message) -> Delivery: ...


# -- helpers plugins share ------------------------------------------------------
# Plain functions of the dataclasses above, so an installed plugin package does
# not re-implement them (and get the calendar day or a permit's bounds wrong).

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
    """Whether a permit or approval (attributes ``valid_from``/``valid_to``) is
    in force on ``day``; a missing bound is open."""
    start = as_date(feature.attributes.get("valid_from"))
    end = as_date(feature.attributes.get("valid_to"))
    return (start is None or start <= day) and (end is None or day <= end)


def validity(feature: GisFeature) -> str:
    """A permit's validity period for a reason line: '2024-04-01 至 2027-03-31'."""
    start = as_date(feature.attributes.get("valid_from"))
    end = as_date(feature.attributes.get("valid_to"))
    return f"{start or '…'} 至 {end or '…'}"


def near(context: GisContext, layer: str, metres: float) -> list[GisFeature]:
    """Features of ``layer`` containing the point or within ``metres``, nearest first."""
    found = [f for f in context.layer(layer) if f.inside or f.distance_m <= metres]
    return sorted(found, key=lambda f: (not f.inside, f.distance_m))


def label(feature: GisFeature) -> str:
    """A feature's name, else its code."""
    return feature.name or feature.code


def where(feature: GisFeature) -> str:
    """'范围内' or the distance, for reasons shown to the duty officer."""
    return "范围内" if feature.inside else f"附近（{feature.distance_m:.0f} 米）"


def with_township(units: Iterable[str], context: RoutingContext) -> tuple[str, ...]:
    """``units`` plus the event's township unit when the core found one."""
    units = tuple(units)
    if context.township_unit and context.township_unit not in units:
        units += (context.township_unit,)
    return units


def township_note(context: RoutingContext) -> str:
    """A sentence for ``Routing.note`` when the core found no township."""
    return "" if context.township_unit else "未能确定事件所在乡镇，请派发时补充。"


__all__ = [
    "AlertView", "Clock", "Delivery", "Detection", "DetectionContext", "Detector",
    "Domain", "EventType", "GisContext", "GisFeature", "GisLayer", "LOCAL_TZ", "Message",
    "Notifier", "Prejudgement", "Routing", "RoutingContext", "SimpleDetector", "SlaClocks",
    "as_date", "hookimpl", "label", "local_date", "near", "township_note", "valid_on",
    "validity", "where", "with_township",
]
