"""Work-order states, participant states and the lifecycle's transition table
(DESIGN.md §6): the one definition pages, API and engine read."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from webapp.platform.security import DUTY_ROLES
from webapp.plugin_api import Clock, SlaClocks

if TYPE_CHECKING:
    from webapp.models import OrderParticipant, WorkOrder


# -- states and the transition table -------------------------------------------------
TO_ACCEPT, IN_PROGRESS, TO_REVIEW, CLOSED, RETURNED = (
    "to_accept", "in_progress", "to_review", "closed", "returned")
OPEN_STATES = frozenset({TO_ACCEPT, IN_PROGRESS, TO_REVIEW, RETURNED})
ALL_STATES = OPEN_STATES | {CLOSED}
# In display order (filters, counts, exports).
ORDER_STATES = (TO_ACCEPT, IN_PROGRESS, TO_REVIEW, CLOSED, RETURNED)
# Participant states: to_accept → in_progress → done; returned; withdrawn (replaced).
P_TO_ACCEPT, P_IN_PROGRESS, P_DONE, P_RETURNED, P_WITHDRAWN = (
    "to_accept", "in_progress", "done", "returned", "withdrawn")
# A participant still owing a step (accept, arrive or feedback).
ACTIVE_PARTICIPANT_STATES = frozenset({P_TO_ACCEPT, P_IN_PROGRESS})
# Target meaning "where the lead's progress puts the order" (after re-dispatch).
RESUME = "resume"

# Who may act: a duty role, the duty lead, the leading-group office, any
# participating unit, or the lead participant only.
DUTY, DUTY_LEAD, OFFICE, PARTICIPANT, LEAD = "duty", "duty_lead", "office", "participant", "lead"
ACTOR_ROLES = {
    DUTY: DUTY_ROLES | {"admin"},
    DUTY_LEAD: frozenset({"duty_lead", "admin"}),
    OFFICE: frozenset({"office_staff", "admin"}),
}
PRIORITIES = ("normal", "high", "urgent")
SPOT_CHECK_RESULTS = ("pass", "fail")
EXTENSION_STAGES = ("accept", "arrive", "feedback")
DEFAULT_REOPEN_DAYS = 30
# The furthest an extension may reach, in days from the request (NRSC_MAX_EXTENSION_DAYS).
DEFAULT_MAX_EXTENSION_DAYS = 30
DEFAULT_MAINTENANCE_CLOCKS = {"accept": "2h", "arrive": "24h", "feedback": "48h", "basis": "natural"}
DEFAULT_CLOCKS = SlaClocks(review=Clock(30), accept=Clock(120), arrive=Clock(working_days=1),
                           feedback=Clock(working_days=3), basis="working")
MAINTENANCE_UNIT = "operator"


@dataclass(frozen=True)
class Transition:
    """One row of the lifecycle table.

    ``sources``: order states the action is allowed in; ``target``: the order
    state afterwards (None: unchanged, RESUME: from the lead's progress);
    ``moves_order``: "always", or "lead" when only the lead's step moves the
    order; ``participant_states``: the acting participant's required state."""

    action: str
    sources: frozenset[str]
    target: str | None
    actors: frozenset[str]
    moves_order: str = "always"
    participant_states: frozenset[str] | None = None
    label: str = ""


def _t(action, sources, target, actors, moves_order="always", participant_states=None, label=""):
    return Transition(action, frozenset(sources), target, frozenset(actors), moves_order,
                      frozenset(participant_states) if participant_states else None, label)


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    _t("accept", {TO_ACCEPT, IN_PROGRESS}, IN_PROGRESS, {PARTICIPANT}, "lead", {P_TO_ACCEPT}, "签收"),
    _t("return", {TO_ACCEPT, IN_PROGRESS}, RETURNED, {PARTICIPANT}, "always", {P_TO_ACCEPT}, "退单"),
    _t("return-decision", ALL_STATES, None, {DUTY_LEAD}, label="退单认定"),
    _t("redispatch", {RETURNED}, RESUME, {DUTY}, label="重新派发"),
    _t("arrive", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {PARTICIPANT}, "lead", {P_IN_PROGRESS}, "到场"),
    _t("forward", {IN_PROGRESS}, None, {LEAD}, "lead", {P_IN_PROGRESS}, "转派"),
    _t("feedback", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, TO_REVIEW, {PARTICIPANT}, "lead",
       {P_IN_PROGRESS}, "反馈"),
    _t("close", {TO_REVIEW}, CLOSED, {DUTY}, label="办结"),
    _t("rework", {TO_REVIEW}, IN_PROGRESS, {DUTY}, label="退回重办"),
    _t("extend", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {PARTICIPANT}, "lead",
       {P_TO_ACCEPT, P_IN_PROGRESS}, "申请延期"),
    _t("approve-extension", {TO_ACCEPT, IN_PROGRESS, TO_REVIEW}, None, {DUTY, OFFICE}, label="延期审批"),
    _t("supervise", OPEN_STATES, None, {OFFICE, DUTY_LEAD}, label="督办"),
    _t("emergency", OPEN_STATES, None, {DUTY, OFFICE}, label="启动应急响应"),
    _t("reopen", {CLOSED}, IN_PROGRESS, {DUTY, OFFICE}, label="重新打开"),
    _t("transfer-case", {IN_PROGRESS, TO_REVIEW, CLOSED}, None, {DUTY, OFFICE, PARTICIPANT}, label="立案"),
    _t("spot-check", {CLOSED}, None, {OFFICE}, label="核查"),
)}


def staff_roles(action: str) -> frozenset[str]:
    """User roles that may take ``action`` by office (not as a participating
    unit); pages use it to decide which forms to show."""
    return frozenset().union(*(ACTOR_ROLES[kind] for kind in TRANSITIONS[action].actors if kind in ACTOR_ROLES))


# The order actions of DESIGN.md §8, in its order (the API's paths).
API_ACTIONS = ("accept", "return", "arrive", "forward", "feedback", "close", "rework", "extend",
               "approve-extension", "supervise", "emergency", "reopen", "transfer-case", "spot-check")


def active_participants(order: WorkOrder) -> list[OrderParticipant]:
    """The order's participants that were not replaced by a re-dispatch."""
    return [p for p in order.participants if p.state != P_WITHDRAWN]
