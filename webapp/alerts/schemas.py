"""The alert payloads of the JSON API as pydantic models: intake (shared with
MQTT, which posts the same JSON), the review actions and the one alert shape
every endpoint answers with."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from webapp.alerts.review import REASON_CODES, VERDICTS
from webapp.api.schema import (
    MAX_JSON_DEPTH,
    Body,
    Int,
    Number,
    OptionalId,
    Reply,
    Text,
    Version,
    blank_is_none,
    json_depth_ok,
    number,
)
from webapp.api.schema import text as _str
from webapp.models import ALERT_STATUSES


def _string_only(value: Any) -> Any:
    # pydantic would read a bare number as a Unix time; intake wants ISO 8601.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with an offset")
    return value


def _json_text(value: Any) -> Any:
    # Multipart senders give structured fields as JSON text.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError("must be a JSON list") from None
        if not json_depth_ok(value, MAX_JSON_DEPTH):
            raise ValueError("nests too deep")
    return value



Unit01 = number(0, 1)
NormalisedBox = Annotated[list[Unit01], Field(min_length=4, max_length=4,
                                              description="[x1, y1, x2, y2] normalised to the frame")]
PixelBox = Annotated[list[Number], Field(min_length=4, max_length=4, description="[x1, y1, x2, y2] in pixels")]


class BoxObject(Body):
    model_config = ConfigDict(extra="forbid")
    box: NormalisedBox | None = None
    box_px: PixelBox | None = None
    label: _str(80) | None = None
    score: Unit01 | None = None

    @model_validator(mode="after")
    def _one_box(self) -> "BoxObject":
        if self.box is None and self.box_px is None:
            raise ValueError("a box object needs box or box_px")
        return self


class InlineImage(Body):
    model_config = ConfigDict(extra="forbid")
    filename: _str(255) | None = None
    data: str = Field(min_length=1, description="the image, base64", json_schema_extra={"contentEncoding": "base64"})


class AlertIntake(Body):
    """An alert as a sender reports it (DESIGN.md §8). Give lat and lon, or a
    camera_code (the alert is then placed where the camera looks)."""

    model_config = ConfigDict(
        extra="forbid", title="AlertIntake",
        json_schema_extra={
            "anyOf": [{"required": ["lat", "lon"]}, {"required": ["camera_code"]}],
            "examples": [{"domain": "fire", "event_type": "smoke", "source_event_id": "box7-000123",
                          "occurred_at": "2026-11-20T02:13:00+08:00", "lat": 37.4, "lon": 106.06,
                          "label": "smoke", "score": 0.91, "boxes": [[0.1, 0.2, 0.3, 0.4]]}]})

    domain: _str(40, required=True) = Field(description="domain code declared by a plugin (fire, mining…)")
    event_type: _str(60, required=True) = Field(description="an event type of that domain")
    source_event_id: _str(120) | None = Field(
        None, description="the sender's event id; a retry with the same id returns the same alert")
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_string_only)] | None = Field(
        None, description="ISO 8601 with an offset (+08:00 or Z); default: now; at most 10 minutes ahead")
    lat: number(-90, 90) | None = Field(None, description="WGS84; must lie in the district")
    lon: number(-180, 180) | None = None
    camera_code: _str(40) | None = Field(
        None, description="without lat/lon the alert is placed where the camera looks (estimated)")
    preset: Int | None = Field(None, description="preset number of the camera (needs camera_code)")
    pan: Number | None = None
    tilt: Number | None = None
    zoom: Number | None = None
    label: _str(80) | None = None
    score: Unit01 | None = None
    boxes: Annotated[list[NormalisedBox | BoxObject], BeforeValidator(_json_text),
                     Field(max_length=100)] | None = None
    text: _str(2000) | None = None
    images: list[InlineImage] | None = Field(
        None, description="snapshots inline, base64 (JPEG, PNG or WebP); at most NRSC_MAX_IMAGES (default 10)")


# -- review ---------------------------------------------------------------------
_REASONS = tuple(REASON_CODES)


class ReviewBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"verdict": "false_alarm", "reason": "permitted_area", "note": "持证施工", "version": 1}]})
    verdict: Literal[VERDICTS]  # type: ignore[valid-type]
    reason: Annotated[Literal[_REASONS] | None, BeforeValidator(blank_is_none),  # type: ignore[valid-type]
                      WithJsonSchema({"enum": [*_REASONS, None],
                                      "description": "a reason code; required for false_alarm"})] = None
    duplicate_of: OptionalId = Field(None, description="the alert this one repeats; required for duplicate")
    note: Text | None = None
    version: Version = None


class ClaimBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"takeover": False, "version": 1}]})
    takeover: bool = Field(False, description="a duty lead takes over someone else's claim")
    version: Version = None


class CorrectBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"domain": "fire", "event_type": "smoke", "version": 2}]})
    domain: _str(40, required=True)
    event_type: _str(60, required=True)
    version: Version = None


# -- the alert as every endpoint answers it ---------------------------------------
class TownshipRef(Reply):
    code: str
    name: str


class Prejudgement(Reply):
    level: str | None
    reasons: list[Any]


class OccurrenceOut(Reply):
    id: int
    source: str
    source_event_id: str | None
    occurred_at: datetime | None
    lat: float | None
    lon: float | None
    score: float | None
    boxes: list[Any]
    preset: int | None


class EvidenceOut(Reply):
    id: int
    url: str
    sha256: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    occurrence_id: int | None
    original_name: str | None


class AlertOut(Reply):
    """One alert. The intake and GET answers carry everything; the review
    actions answer the same shape."""

    model_config = ConfigDict(title="Alert")
    id: int
    status: str
    domain: str
    event_type: str
    version: int
    source: str
    source_event_id: str | None
    manual: bool
    occurred_at: datetime | None
    created_at: datetime | None
    last_seen_at: datetime | None
    occurrences: int
    lat: float
    lon: float
    location_estimated: bool
    camera_code: str | None
    preset: int | None
    pan: float | None
    tilt: float | None
    zoom: float | None
    label: str | None
    score: float | None
    boxes: list[Any]
    text: str | None
    township: TownshipRef | None
    gis_context: dict[str, Any]
    prejudgement: Prejudgement
    review_due_at: datetime | None
    review_overdue: bool
    claimed_by: str | None = Field(description="login of the duty officer reviewing it")
    claimed_at: datetime | None
    verdict_by: str | None
    verdict_at: datetime | None
    reason: str | None = Field(description="the verdict's reason code (same as verdict_reason)")
    verdict_reason: str | None
    note: str | None = Field(description="the verdict's note")
    duplicate_of: int | None
    acknowledged_at: datetime | None
    dispatch_url: str | None = Field(description="where a confirmed alert is dispatched (the page form)")
    occurrence_list: list[OccurrenceOut]
    evidence: list[EvidenceOut]
    created: bool | None = Field(None, description="intake only: whether this report created the alert")




# -- the list, release, manual alerts ---------------------------------------------
def _utc_representable(value: datetime | None) -> datetime | None:
    # A far-off offset on year 1 or 9999 has no UTC equivalent: refuse it
    # rather than fail in the database driver.
    if value is not None:
        try:
            value.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise ValueError("is out of range") from None
    return value


QueryTime = Annotated[AwareDatetime | None, BeforeValidator(blank_is_none), AfterValidator(_utc_representable)]
LIST_STATUSES = ("open", "all", *ALERT_STATUSES)
MAX_LIST_LIMIT = 200


class AlertListQuery(Body):
    """Filters of ``GET /alerts``; every one narrows the list (AND)."""

    status: Annotated[Literal[LIST_STATUSES] | None,  # type: ignore[valid-type]
                      BeforeValidator(blank_is_none)] = Field(
        None, description="open (new + under_review), all (the default), or one status")
    domain: Annotated[_str(40) | None, BeforeValidator(blank_is_none)] = Field(
        None, description="a domain code (GET /domains lists them)")
    township: Annotated[_str(40) | None, BeforeValidator(blank_is_none)] = Field(
        None, description="a township code")
    source: Annotated[_str(80) | None, BeforeValidator(blank_is_none)] = Field(
        None, description="the reporting source (a token's source name, manual, frigate, user:<login>…)")
    camera: Annotated[_str(40) | None, BeforeValidator(blank_is_none)] = Field(
        None, description="a camera code")
    since: QueryTime = Field(None, description="created at or after (ISO 8601 with an offset)")
    until: QueryTime = Field(None, description="created before (ISO 8601 with an offset)")
    order: Annotated[Literal["newest", "oldest"] | None, BeforeValidator(blank_is_none)] = Field(
        None, description="newest first (the default) or oldest first")
    limit: Annotated[int, Field(ge=1, le=MAX_LIST_LIMIT)] = Field(
        50, description=f"alerts per page, at most {MAX_LIST_LIMIT}")
    cursor: Annotated[_str(500) | None, BeforeValidator(blank_is_none)] = Field(
        None, description="next_cursor of the previous page, with the same filters")


class AlertSummary(Reply):
    """An alert in a list: what a queue row shows; GET /alerts/{id} has the rest."""

    id: int
    url: str = Field(description="the alert's API address")
    status: str
    domain: str
    event_type: str
    version: int
    source: str
    manual: bool
    occurred_at: datetime | None
    created_at: datetime | None
    last_seen_at: datetime | None
    occurrences: int
    lat: float
    lon: float
    location_estimated: bool
    camera_code: str | None
    preset: int | None
    label: str | None
    score: float | None
    township: TownshipRef | None
    prejudgement_level: str | None
    review_due_at: datetime | None
    review_overdue: bool
    claimed_by: str | None
    claimed_at: datetime | None
    verdict_by: str | None
    verdict_at: datetime | None
    verdict_reason: str | None
    duplicate_of: int | None


class AlertList(Reply):
    model_config = ConfigDict(title="AlertList")
    alerts: list[AlertSummary]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")
    limit: int


class ReleaseBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 2}]})
    version: Version = None


class ManualAlertBody(Body):
    """An alert a person reports (人工报警): the console's manual alert form
    as JSON. Give lat and lon, or a camera_code (and preset); describe what
    was seen."""

    model_config = ConfigDict(
        title="ManualAlert",
        json_schema_extra={
            "anyOf": [{"required": ["lat", "lon"]}, {"required": ["camera_code"]}],
            "examples": [{"domain": "fire", "event_type": "smoke", "lat": 37.4, "lon": 106.06,
                          "text": "群众电话报告山坡冒烟", "occurred_at": "2026-11-20T02:13:00+08:00",
                          "source_event_id": "call-20261120-0213"}]})

    domain: _str(40, required=True) = Field(description="domain code (GET /domains)")
    event_type: _str(60, required=True) = Field(description="an event type of that domain")
    text: _str(2000, required=True) = Field(description="what was seen or reported")
    lat: number(-90, 90) | None = Field(None, description="WGS84; must lie in the district")
    lon: number(-180, 180) | None = None
    camera_code: _str(40) | None = Field(None, description="without lat/lon: placed where the camera looks")
    preset: Int | None = Field(None, description="preset number of the camera (needs camera_code)")
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_string_only)] | None = Field(
        None, description="ISO 8601 with an offset; default: now")
    source_event_id: _str(80) | None = Field(
        None, description="an idempotency key of yours: sending it again returns the same alert")
    images: list[InlineImage] | None = Field(
        None, description="photos inline, base64 (JPEG, PNG or WebP); multipart senders use the images files")

    @model_validator(mode="after")
    def _placed(self) -> "ManualAlertBody":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.lat is None and self.camera_code is None:
            raise ValueError("give lat and lon, or a camera_code")
        if self.preset is not None and self.camera_code is None:
            raise ValueError("preset needs camera_code")
        return self

