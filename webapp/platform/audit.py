"""The audit trail: one event for every state change."""
from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.platform.security import current_user


def record(
    action: str,
    entity_type: str,
    entity_id: int | None,
    *,
    actor: User | None = None,
    actor_label: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (committed with the change)."""
    if actor is None and actor_label is None and has_request_context():
        actor = current_user()
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_label=actor_label or (actor.login if actor else "system"),
        entity_type=entity_type, entity_id=entity_id, action=action,
        from_state=from_state, to_state=to_state, note=note, data=data or {},
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event
