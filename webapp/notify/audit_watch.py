"""The daily check of the audit chain (the worker's ``audit_verify`` job)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import User
from webapp.notify import outbox
from webapp.platform import auditchain, clock

# -- the daily check ------------------------------------------------------------------------
VERIFY_JOB = "audit_verify"
VERIFY_EVERY_SECONDS = 24 * 3600


def verify_job() -> dict[str, Any]:
    """Verify the chain; a broken link is told to every active admin in their
    inbox (once per broken row and day)."""
    with db.engine.connect() as conn:
        result = auditchain.verify(conn)
    if not result.ok:
        day = clock.now().date().isoformat()
        admins = db.session.scalars(select(User).where(User.role == "admin", User.active.is_(True))).all()
        for admin in admins:
            outbox.enqueue(outbox.INTERNAL, f"user:{admin.login}", "审计记录链校验失败", result.message(), None,
                           f"audit-verify:{day}:{result.broken_id}:user:{admin.id}")
        db.session.commit()
    return {"ok": result.ok, "checked": result.checked, "broken_id": result.broken_id}
