"""Per-participant rounds (DESIGN.md §6, issue 9 item 4).

The participant row holds the current round's deadlines, times and on-time
flags, which every action and the SLA sweep read and write as before. Each
round also has its own :class:`OrderRound` row: :func:`sync` copies the
current round's stages into it whenever the order's audit event is written,
and :func:`start` ends the current round and opens the next, so earlier
rounds keep what happened in them.

This module imports no other part of the work-order loop, so the engine can
call it on every audit record."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from webapp.models import OrderParticipant, OrderRound, WorkOrder

STAGES = ("accept", "arrive", "feedback")
_DONE = {"accept": "accepted_at", "arrive": "arrived_at", "feedback": "feedback_at"}


def current(p: OrderParticipant) -> OrderRound | None:
    return p.rounds[-1] if p.rounds else None


def round_stages(r: OrderRound) -> list[str]:
    """The stages whose clocks this round started."""
    return [s for s in STAGES if getattr(r, f"{s}_due_at") is not None]


def first(p: OrderParticipant, reason: str, started_at: datetime) -> OrderRound:
    """Round 1 of a new participant, from its deadlines as they are."""
    r = OrderRound(order=p.order, number=1, reason=reason, started_at=started_at, overdue={},
                   **{f"{s}_due_at": getattr(p, f"{s}_due_at") for s in STAGES})
    p.rounds.append(r)
    p.round_number = 1
    return r


def start(p: OrderParticipant, reason: str, now: datetime, dues: Mapping[str, datetime | None]) -> OrderRound:
    """End ``p``'s current round and open the next, restarting the clocks of
    ``dues``' stages (their records on ``p`` are cleared; the other stages
    stay as they were, done or not, and are not part of the new round)."""
    sync_participant(p)
    previous = current(p)
    if previous is not None and previous.ended_at is None:
        previous.ended_at = now
    for stage, due in dues.items():
        setattr(p, f"{stage}_due_at", due)
        setattr(p, _DONE[stage], None)
        setattr(p, f"{stage}_on_time", None)
        p.warned = {k: v for k, v in (p.warned or {}).items() if k != stage}
        p.overdue = {k: v for k, v in (p.overdue or {}).items() if k != stage}
    number = (previous.number if previous is not None else 0) + 1
    r = OrderRound(order=p.order, number=number, reason=reason, started_at=now, overdue={},
                   **{f"{s}_due_at": dues.get(s) for s in STAGES})
    p.rounds.append(r)
    p.round_number = number
    return r


def end(p: OrderParticipant, when: datetime) -> None:
    """End the current round without a next one (the participant was replaced)."""
    sync_participant(p)
    r = current(p)
    if r is not None and r.ended_at is None:
        r.ended_at = when


def sync_participant(p: OrderParticipant) -> None:
    r = current(p)
    if r is None:
        # A participant made outside add_participant (older data, fixtures).
        r = first(p, "forward" if p.role == "forwarded" else "dispatch",
                  p.assigned_at or p.order.dispatched_at or p.order.created_at)
    if r.ended_at is not None:
        return
    for stage in round_stages(r):
        setattr(r, f"{stage}_due_at", getattr(p, f"{stage}_due_at"))
        setattr(r, _DONE[stage], getattr(p, _DONE[stage]))
        setattr(r, f"{stage}_on_time", getattr(p, f"{stage}_on_time"))
    overdue = {k: v for k, v in (p.overdue or {}).items() if k in round_stages(r)}
    if overdue != (r.overdue or {}):
        r.overdue = overdue


def sync(order: WorkOrder, participants: Iterable[OrderParticipant] | None = None) -> None:
    """Copy the current round of each participant into its round row."""
    for p in participants if participants is not None else order.participants:
        sync_participant(p)
