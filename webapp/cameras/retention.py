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
from sqlalchemy import delete, select, update

from webapp import audit, clock, evidence
from webapp.extensions import db
from webapp.models import (
    CameraClipNote, CheckpointPassage, EvidenceFile, PatrolFrame, Preset, WorkOrder,
)
from webapp.workflow import OPEN_STATES

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
    return freed


def sweep(now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    orders_by_alert = {o.alert_id: o for o in db.session.scalars(
        select(WorkOrder).where(WorkOrder.alert_id.is_not(None)))}
    references = set(db.session.scalars(select(Preset.reference_sha256).where(Preset.reference_sha256.is_not(None))))
    rows = list(db.session.scalars(select(EvidenceFile).order_by(EvidenceFile.created_at, EvidenceFile.id)))
    expired, keep = [], []
    counts: dict[str, int] = {}
    for row in rows:
        cls, until = classify(row, now, orders_by_alert, references)
        if until is not None and until <= now:
            expired.append(row)
            counts[cls] = counts.get(cls, 0) + 1
        else:
            keep.append((row, cls))
    freed = _delete_rows(expired)
    budget_mb = current_app.config.get("NRSC_EVIDENCE_BUDGET_MB")
    over_budget = 0
    if budget_mb:
        budget = float(budget_mb) * 1024 * 1024
        # Unique files only: equal content is stored once.
        used = sum({r.sha256: r.size for r, _ in keep}.values())
        refs: dict[str, int] = {}
        for r, _ in keep:
            refs[r.sha256] = refs.get(r.sha256, 0) + 1
        order_rank = {"patrol": 0, "passage": 1, "other": 2, "alert": 3, "archive": 4}
        victims = sorted((x for x in keep if x[1] in order_rank), key=lambda x: (order_rank[x[1]], x[0].created_at))
        chosen: list[EvidenceFile] = []
        for row, cls in victims:
            if used <= budget:
                break
            chosen.append(row)
            counts[cls] = counts.get(cls, 0) + 1
            over_budget += 1
            refs[row.sha256] -= 1
            if refs[row.sha256] == 0:
                used -= row.size
        freed += _delete_rows(chosen)
    deleted = len(expired) + over_budget
    if deleted:
        audit.record("evidence_retention", "evidence", None, actor_label="system",
                     note=f"deleted {deleted} evidence files, freed {freed} bytes",
                     data={"by_class": counts, "over_budget": over_budget, "freed_bytes": freed})
    db.session.commit()
    return {"deleted": deleted, "freed_bytes": freed, "by_class": counts, "over_budget": over_budget}




def sweep_job() -> dict[str, Any]:
    return sweep()
