"""The worker's monthly bulletin: on the 1st (local date) it writes last month's
bulletin PDF and workbook under NRSC_DATA_DIR/bulletins and tells the leading
group's channels. Runs daily; a bulletin already on disk is not made again."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.assessment import bulletin, scoring
from webapp.assessment.periods import previous_month
from webapp.extensions import db
from webapp.models import Unit
from webapp.notify import outbox
from webapp.platform import audit, clock

BULLETIN_JOB = "assessment.monthly_bulletin"
BULLETIN_EVERY_SECONDS = 24 * 3600.0


def bulletin_dir() -> Path:
    return Path(current_app.config["NRSC_DATA_DIR"]) / "bulletins"


def monthly_bulletin() -> dict[str, Any]:
    today = clock.local(clock.now()).date()
    if today.day != 1:
        return {"made": False, "reason": "not the 1st"}
    period = previous_month(today)
    pdf_path = bulletin_dir() / f"{bulletin.file_stem(period.label)}.pdf"
    if pdf_path.exists():
        return {"made": False, "reason": "exists", "path": str(pdf_path)}
    result = scoring.assess(period)
    pdf_path, xlsx_path = bulletin.write(result, bulletin_dir())
    leading = db.session.scalars(select(Unit).where(Unit.is_leading_office)).all()
    top = "；".join(f"{r['rank']}. {r['unit']} {r['score']:.2f} {r['grade']}" for r in result["rows"][:5]) \
        or "本期没有应办工单。"
    for unit in leading:
        outbox.notify_unit(unit, f"{period.label} 考核通报", top,
                           link=outbox._link(f"/assessment/?period={period.label}"),
                           key=f"assessment:bulletin:{period.label}")
    audit.record("assessment.bulletin", "assessment_period", None, actor_label="worker",
                 data={"period": period.label, "pdf": pdf_path.name, "xlsx": xlsx_path.name})
    db.session.commit()
    return {"made": True, "period": period.label, "path": str(pdf_path)}
