"""Evidence retention: by age, then by a disk budget, oldest first.

Rules (settings in brackets, defaults after them):

* patrol frames that raised nothing: [NRSC_PATROL_FRAME_DAYS] 3 days;
* checkpoint passage snapshots: [NRSC_PASSAGE_DAYS] 30 days;
* evidence of alerts (no work order): [NRSC_ALERT_EVIDENCE_DAYS] 90 days — the plan's three months;
* evidence of a closed work order (its alert's files, its check-in and feedback
  photos): until the year's assessment is closed plus [NRSC_ARCHIVE_YEARS] 1
  year, i.e. 1 January of (closing year + 1 + years), local time — PDFs are
  reprinted and bulletins cite typical cases;
* evidence of an open or case-transferred (立案) order: never deleted, not even
  to meet the budget;
* preset reference images: kept while the preset uses them.

Beyond the age rules, while the files take more than [NRSC_EVIDENCE_BUDGET_MB]
(unset: no budget), the oldest deletable files go first, orders' archive last.
A file on disk is removed when no row refers to its SHA-256 any more.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import (
    CameraClipNote,
    CheckpointPassage,
    EvidenceFile,
    PatrolFrame,
    Preset,
    WorkOrder,
)
from webapp.orders.states import OPEN_STATES
from webapp.platform import audit, clock, imaging

log = logging.getLogger(__name__)
RETENTION_JOB = "evidence_retention"


def _days(name: str, default: int) -> timedelta:
    return timedelta(days=float(current_app.config.get(name, default)))


def archive_until(closed_at: datetime) -> datetime:
    years = int(current_app.config.get("NRSC_ARCHIVE_YEARS", 1))
    local_year = clock.local(closed_at).year
    return datetime(local_year + 1 + years, 1, 1, tzinfo=clock.LOCAL_TZ)


def _order_of(row: EvidenceFile, orders_by_alert: dict[int, WorkOrder]) -> WorkOrder | None:
    if row.order_id:
        return db.session.get(WorkOrder, row.order_id)
    if row.alert_id:
        return orders_by_alert.get(row.alert_id)
    return None


def classify(row: EvidenceFile, now: datetime, orders_by_alert: dict[int, WorkOrder],
             references: set[str]) -> tuple[str, datetime | None]:
    """(class, expiry): class is protected | archive | alert | patrol | passage | other."""
    order = _order_of(row, orders_by_alert)
    if order is not None:
        if order.state in OPEN_STATES or order.case_transferred or order.closed_at is None:
            return "protected", None
        return "archive", archive_until(order.closed_at)
    if row.kind == "reference" or row.sha256 in references:
        return "protected", None
    if row.alert_id:
        return "alert", row.created_at + _days("NRSC_ALERT_EVIDENCE_DAYS", 90)
    if row.kind == "patrol_frame":
        return "patrol", row.created_at + _days("NRSC_PATROL_FRAME_DAYS", 3)
    if row.kind == "passage":
        return "passage", row.created_at + _days("NRSC_PASSAGE_DAYS", 30)
    return "other", None


def _delete_rows(rows: list[EvidenceFile]) -> int:
    if not rows:
        return 0
    ids = [r.id for r in rows]
    shas = {r.sha256 for r in rows}
    db.session.execute(delete(PatrolFrame).where(PatrolFrame.evidence_id.in_(ids)))
    db.session.execute(delete(CameraClipNote).where(CameraClipNote.evidence_id.in_(ids)))
    db.session.execute(update(CheckpointPassage).where(CheckpointPassage.evidence_id.in_(ids)).values(evidence_id=None))
    db.session.execute(delete(EvidenceFile).where(EvidenceFile.id.in_(ids)))
    db.session.flush()
    still = set(db.session.scalars(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(shas))))
    freed = 0
    root = evidence.files_root()
    for sha in shas - still:
        path = root / evidence.relative_path(sha)
        try:
            freed += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass
        imaging.print_copy_path(root, sha).unlink(missing_ok=True)
    return freed


BATCH = 2000


def _references() -> set[str]:
    return set(db.session.scalars(select(Preset.reference_sha256).where(Preset.reference_sha256.is_not(None))))


def _unlinked(kinds: tuple[str, ...] | None, references: set[str]):
    q = select(EvidenceFile).where(EvidenceFile.alert_id.is_(None), EvidenceFile.order_id.is_(None),
                                   EvidenceFile.kind != "reference")
    if kinds is not None:
        q = q.where(EvidenceFile.kind.in_(kinds))
    else:
        q = q.where(EvidenceFile.kind.not_in(("patrol_frame", "passage")))
    if references:
        q = q.where(EvidenceFile.sha256.not_in(references))
    return q.order_by(EvidenceFile.created_at, EvidenceFile.id)


def _orders_for(rows: list[EvidenceFile]) -> dict[int, WorkOrder]:
    ids = {r.alert_id for r in rows if r.alert_id}
    if not ids:
        return {}
    return {o.alert_id: o for o in db.session.scalars(select(WorkOrder).where(WorkOrder.alert_id.in_(ids)))}


def _enough(rows: list[EvidenceFile], excess: float) -> list[EvidenceFile]:
    """The oldest of ``rows`` whose sizes add up to ``excess``."""
    out, acc = [], 0
    for row in rows:
        out.append(row)
        acc += row.size
        if acc >= excess:
            break
    return out


def _used_bytes() -> int:
    # Unique files only: equal content is stored once.
    per_file = select(EvidenceFile.sha256, func.max(EvidenceFile.size).label("size")).group_by(
        EvidenceFile.sha256).subquery()
    return int(db.session.scalar(select(func.coalesce(func.sum(per_file.c.size), 0))) or 0)


def sweep(now: datetime | None = None) -> dict[str, Any]:
    """Delete what the rules let go; works in batches, so millions of patrol
    frames never sit in memory at once."""
    now = now or clock.now()
    references = _references()
    counts: dict[str, int] = {}
    freed = 0

    def drop(rows: list[EvidenceFile], cls: str) -> None:
        nonlocal freed
        if rows:
            counts[cls] = counts.get(cls, 0) + len(rows)
            freed += _delete_rows(rows)
            db.session.commit()

    # 1. By age: unlinked patrol frames and passage snapshots, oldest first.
    for kind, cls, days_name, default in (("patrol_frame", "patrol", "NRSC_PATROL_FRAME_DAYS", 3),
                                          ("passage", "passage", "NRSC_PASSAGE_DAYS", 30)):
        cutoff = now - _days(days_name, default)
        while True:
            rows = list(db.session.scalars(_unlinked((kind,), references)
                                           .where(EvidenceFile.created_at < cutoff).limit(BATCH)))
            drop(rows, cls)
            if len(rows) < BATCH:
                break
    # 2. By age: evidence of alerts and orders (nothing of theirs expires younger
    # than the alert rule, so only older rows are looked at).
    cutoff = now - _days("NRSC_ALERT_EVIDENCE_DAYS", 90)
    last_id = 0
    while True:
        rows = list(db.session.scalars(select(EvidenceFile).where(
            or_(EvidenceFile.alert_id.is_not(None), EvidenceFile.order_id.is_not(None)),
            EvidenceFile.created_at < cutoff, EvidenceFile.id > last_id).order_by(EvidenceFile.id).limit(BATCH)))
        if not rows:
            break
        last_id = rows[-1].id
        orders = _orders_for(rows)
        by_class: dict[str, list[EvidenceFile]] = {}
        for row in rows:
            cls, until = classify(row, now, orders, references)
            if until is not None and until <= now:
                by_class.setdefault(cls, []).append(row)
        for cls, expired in by_class.items():
            drop(expired, cls)
    # 3. Over the disk budget: oldest first, cheapest evidence first; never
    # evidence of an open or case-transferred order, never a preset's reference.
    over_budget = 0
    budget_mb = current_app.config.get("NRSC_EVIDENCE_BUDGET_MB")
    if budget_mb:
        budget = float(budget_mb) * 1024 * 1024
        used = _used_bytes()
        for cls, query in (("patrol", _unlinked(("patrol_frame",), references)),
                           ("passage", _unlinked(("passage",), references)),
                           ("other", _unlinked(None, references))):
            while used > budget:
                rows = _enough(list(db.session.scalars(query.limit(200))), used - budget)
                if not rows:
                    break
                before = freed
                drop(rows, cls)
                over_budget += len(rows)
                used -= freed - before
        for rank in ("alert", "archive"):
            last_id = 0
            while used > budget:
                rows = list(db.session.scalars(select(EvidenceFile).where(
                    or_(EvidenceFile.alert_id.is_not(None), EvidenceFile.order_id.is_not(None)),
                    EvidenceFile.id > last_id).order_by(EvidenceFile.id).limit(200)))
                if not rows:
                    break
                last_id = rows[-1].id
                orders = _orders_for(rows)
                victims = _enough([r for r in rows if classify(r, now, orders, references)[0] == rank],
                                  used - budget)
                before = freed
                drop(victims, rank)
                over_budget += len(victims)
                used -= freed - before
    deleted = sum(counts.values())
    if deleted:
        audit.record("evidence_retention", "evidence", None, actor_label="system",
                     note=f"deleted {deleted} evidence files, freed {freed} bytes",
                     data={"by_class": counts, "over_budget": over_budget, "freed_bytes": freed})
    db.session.commit()
    return {"deleted": deleted, "freed_bytes": freed, "by_class": counts, "over_budget": over_budget}


def sweep_job() -> dict[str, Any]:
    return sweep()
