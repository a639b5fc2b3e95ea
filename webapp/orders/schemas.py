"""The work-order payloads of the JSON API as pydantic models: the dispatch
plan, one request body per order action and the order as it is answered.

The workflow still checks what needs the database (units, townships, states,
versions); these models refuse what is malformed before it gets there, and
document both."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints

from webapp.api.schema import (
    Body,
    OptionalId,
    Reply,
    Version,
    blank_is_none,
    integer,
    number,
)
from webapp.api.schema import text as api_text
from webapp.models import FEEDBACK_RESULTS
from webapp.orders import sla
from webapp.orders.states import (
    ALL_STATES,
    EXTENSION_STAGES,
    PRIORITIES,
    SPOT_CHECK_RESULTS,
)
from webapp.org import chart as orgchart
from webapp.plugin_api import Clock

# The workflow keeps at most this much of a free text.
ORDER_TEXT = 4000
# A deadline longer than a year is a typo, and past it timedelta arithmetic
# on dates overflows.
MAX_CLOCK_MINUTES = 366 * 24 * 60
MAX_CLOCK_WORKING_DAYS = 260


def _text(max_length: int = ORDER_TEXT, *, required: bool = False) -> Any:
    return api_text(max_length, required=required)


def _codes(value: Any) -> Any:
    # The dispatch form sends "a, b"; JSON clients send a list.
    if isinstance(value, str):
        return [v for v in value.replace(";", ",").split(",") if v.strip()]
    return value


UnitCode = _text(80, required=True)
Participant = Annotated[OptionalId, Field(description="act as this participant (default: your unit's)")]
Note = Annotated[_text() | None, Field(description="free text, kept with the action")]
Reason = Annotated[_text(required=True), Field(description="why (required, non-empty)")]
Codes = Annotated[list[UnitCode], BeforeValidator(_codes), Field(max_length=50)]


def _clock(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a clock is text such as 30m, 4h or 3wd")
    parsed = Clock.parse(value)  # ValueError explains the syntax
    if parsed.minutes > MAX_CLOCK_MINUTES or parsed.working_days > MAX_CLOCK_WORKING_DAYS:
        raise ValueError(f"a clock is at most {MAX_CLOCK_MINUTES // 1440} days "
                         f"or {MAX_CLOCK_WORKING_DAYS} working days")
    return str(parsed)


# (Before-validators run last-declared first: blanks are dropped, then parsed.)
ClockText = Annotated[str | None, BeforeValidator(_clock), BeforeValidator(blank_is_none),
                      Field(description="e.g. 30m, 4h or 3wd (working days); at most a year")]


class Clocks(Body):
    model_config = ConfigDict(extra="forbid")
    accept: ClockText = None
    arrive: ClockText = None
    feedback: ClockText = None
    basis: Literal["natural", "working"] | None = None


# -- dispatch -------------------------------------------------------------------------
class DispatchBody(Body):
    """Corrections to the routing rule's plan; what is left out keeps the
    rule's value."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_unit": "natural_resources", "cooperating": ["town.liuquan"], "working_group": 2,
        "clocks": {"accept": "30m", "arrive": "4h", "feedback": "3wd", "basis": "working"},
        "priority": "high", "title": "非法采矿 · 柳泉乡", "note": "夜间巡查"}]})
    lead_unit: _text(80) | None = Field(None, description="unit code (webapp/org/chart.py)")
    lead_offices: Codes | None = None
    cooperating: Codes | None = None
    township: _text(80) | None = None
    working_group: Annotated[integer(min(orgchart.WORKING_GROUPS), max(orgchart.WORKING_GROUPS)) | None,
                             BeforeValidator(blank_is_none)] = None
    clocks: Clocks | None = None
    priority: Literal[PRIORITIES] | None = None  # type: ignore[valid-type]
    title: _text(200) | None = None
    description: _text(4000) | None = None
    note: _text(2000) | None = None
    as_case: bool = Field(False, description="raise straight to a case (立案查处, working group 5)")
    emergency: bool | None = Field(None, description="start an emergency response at once")

    def as_plan_input(self) -> dict[str, Any]:
        """The fields the client gave, as :func:`planning.plan_from_input` reads them."""
        data = self.model_dump(exclude_unset=True)
        if "clocks" in data:
            data["clocks"] = {k: v for k, v in (data["clocks"] or {}).items() if v is not None}
        return {k: v for k, v in data.items() if v is not None or k in ("lead_offices", "cooperating")}


class DispatchPlanOut(Reply):
    model_config = ConfigDict(title="DispatchPlan")
    lead_unit: str
    lead_offices: list[str]
    cooperating: list[str]
    forward_to: list[str]
    township: str | None
    working_group: int
    clocks: dict[str, str]
    priority: str
    title: str
    description: str
    routing_note: str
    note: str
    as_case: bool
    emergency: bool
    emergency_allowed: bool


# -- order actions ----------------------------------------------------------------------
def _example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


class AcceptBody(Body):
    model_config = _example(note="已签收", version=1)
    note: Note = None
    participant_id: Participant = None
    version: Version = None


class ReturnBody(Body):
    model_config = _example(reason="不属于本单位职责", version=1)
    reason: Reason
    participant_id: Participant = None
    version: Version = None


class ArriveBody(Body):
    model_config = _example(lat=37.41, lon=106.07, accuracy_m=12.5, note="已到场", version=2)
    lat: number(-90, 90)
    lon: number(-180, 180)
    accuracy_m: Annotated[number(0, 100_000) | None, BeforeValidator(blank_is_none)] = None
    note: Note = None
    far_reason: Annotated[Note, Field(description="why the check-in is farther than NRSC_CHECKIN_FAR_M "
                                                  "(default 500 m) from the event; required then")] = None
    participant_id: Participant = None
    version: Version = None


class ForwardBody(Body):
    model_config = _example(unit="town.liuquan", note="请乡镇配合", version=2)
    unit: Annotated[UnitCode, Field(description="unit code")]
    note: Note = None
    version: Version = None


class FeedbackBody(Body):
    model_config = _example(result="stopped", text="已制止，责令恢复原状", client_key="phone-42-1", version=3)
    result: Literal[FEEDBACK_RESULTS]  # type: ignore[valid-type]
    text: _text() = ""
    client_key: _text(120) | None = Field(None, description="retrying with the same key is kept once")
    case_number: _text(80) | None = None
    participant_id: Participant = None
    version: Version = None


class CloseBody(Body):
    model_config = _example(note="处置到位，办结", version=4)
    note: Note = None
    confirm_unfinished: Annotated[bool, Field(description=(
        "true to close although some units never accepted or fed back; without it such a close "
        "is refused with 409 `unfinished_confirmation_required` listing them in `unfinished`"))] = False
    version: Version = None


class ReworkBody(Body):
    model_config = _example(reason="照片不清晰，请补充", version=4)
    reason: Reason
    version: Version = None


class ExtendBody(Body):
    model_config = _example(reason="连续降雨无法进场", hours=24, stage="feedback", version=2)
    reason: Reason
    until: Annotated[_text(40) | None, BeforeValidator(blank_is_none),
                     Field(description="the new deadline, ISO 8601 date-time")] = None
    hours: Annotated[number(0.1, 8760) | None, BeforeValidator(blank_is_none),
                     Field(description="or: this many hours more")] = None
    stage: Literal[EXTENSION_STAGES] = "feedback"  # type: ignore[valid-type]
    participant_id: Participant = None
    version: Version = None


class ApproveExtensionBody(Body):
    model_config = _example(approve=True, request_id=1, note="同意", version=3)
    approve: bool = True
    request_id: OptionalId = None
    note: Note = None
    version: Version = None


class SuperviseBody(Body):
    model_config = _example(note="请加快处置", version=2)
    note: Annotated[_text(required=True), Field(description="the supervision note (required)")]
    version: Version = None


class EmergencyBody(Body):
    model_config = _example(note="火势蔓延，启动应急响应", version=2)
    note: Note = None
    version: Version = None


class ReopenBody(Body):
    model_config = _example(reason="群众反映复发", version=5)
    reason: Reason
    version: Version = None


class TransferCaseBody(Body):
    model_config = _example(case_number="宁自然执〔2026〕12号", note="已立案", version=3)
    case_number: _text(80, required=True)
    note: Note = None
    participant_id: Participant = None
    version: Version = None


class SpotCheckBody(Body):
    model_config = _example(result="pass", note="现场核实无误", version=5)
    result: Literal[SPOT_CHECK_RESULTS]  # type: ignore[valid-type]
    note: Note = None
    version: Version = None


class ReturnDecisionBody(Body):
    model_config = _example(justified=True, note="确非本单位职责", participant_id=1, version=2)
    justified: bool
    note: Note = None
    participant_id: Participant = None
    version: Version = None


class RedispatchBody(Body):
    model_config = _example(units={"1": "forestry_grassland"}, note="改派林草局", version=3)
    units: dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}$")], UnitCode] | None = Field(
        None, description="returned participant id → unit code", max_length=50)
    note: Note = None
    version: Version = None


# -- the order as answered ----------------------------------------------------------------
class SlaOut(Reply):
    model_config = ConfigDict(extra="allow")


class RoundOut(Reply):
    number: int
    reason: str = Field(description="dispatch, forward, redispatch, rework or reopen")
    started_at: datetime
    ended_at: datetime | None
    stages: dict[str, Any] = Field(description="per stage the round started: due_at, done_at, on_time, overdue")


class ParticipantOut(Reply):
    id: int
    unit: str
    unit_name: str
    role: str
    state: str
    offices: list[int]
    forwarded_by: int | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    arrive_lat: float | None
    arrive_lon: float | None
    arrive_distance_m: float | None
    arrive_far_reason: str | None = Field(description="why the check-in was farther than NRSC_CHECKIN_FAR_M")
    feedback_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None
    return_justified: bool | None
    return_count: int | None
    sla: dict[str, Any] = Field(description=f"per stage ({', '.join(sla.STAGES)}): due, done, overdue…")
    round: int = Field(description="the current round (1 until a re-dispatch, rework or reopening)")
    rounds: list[RoundOut] = Field(description="every round, oldest first, with its own records and flags")


class SpotCheckOut(Reply):
    result: str | None
    note: str | None
    at: datetime | None


class FeedbackOut(Reply):
    id: int
    participant_id: int | None
    result: str
    text: str | None
    submitted_at: datetime | None
    client_key: str | None
    review_result: str | None
    review_note: str | None
    photos: list[int]


class ExtensionOut(Reply):
    id: int
    participant_id: int | None
    stage: str
    reason: str
    requested_until: datetime | None
    decision: str | None
    decided_at: datetime | None


class OrderOut(Reply):
    model_config = ConfigDict(title="WorkOrder")
    id: int
    number: str
    kind: str
    state: Literal[tuple(sorted(ALL_STATES))]  # type: ignore[valid-type]
    version: int
    alert_id: int | None
    camera_id: int | None
    domain: str | None
    event_type: str | None
    title: str
    description: str | None
    priority: str
    working_group: int | None
    township: str | None
    lat: float | None
    lon: float | None
    clocks: dict[str, Any] | None
    dispatched_at: datetime | None
    closed_at: datetime | None
    rework_count: int | None
    reopen_count: int | None
    supervised: bool | None
    supervise_note: str | None
    emergency: bool | None
    emergency_at: datetime | None
    case_transferred: bool | None
    case_number: str | None
    spot_check: SpotCheckOut
    participants: list[ParticipantOut]
    feedbacks: list[FeedbackOut]
    extensions: list[ExtensionOut]
    checkin_photos: list[int]
    allowed_actions: list[str] | None = Field(None, description="what this token's user may do now")


class OrderSummary(Reply):
    id: int
    number: str
    state: str
    title: str
    domain: str | None
    priority: str
    version: int
    dispatched_at: datetime | None


class OrderList(Reply):
    orders: list[OrderSummary]


class OrderListQuery(Body):
    state: Annotated[Literal[tuple(sorted(ALL_STATES))] | None,  # type: ignore[valid-type]
                     BeforeValidator(blank_is_none)] = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
