"""API fixtures: the work-order test app (drill domains) and its token
clients, shared with tests/orders."""
from __future__ import annotations

import pytest

from tests.orders.conftest import (  # noqa: F401 - fixtures
    LIUQUAN,
    Api,
    api_as,
    app,
    make_alert,
)

__all__ = ["Api", "LIUQUAN"]


@pytest.fixture
def duty(api_as):  # noqa: F811
    return api_as("duty_officer", "duty")


def counts() -> dict[str, int]:
    """Rows that a refused request must not leave behind."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import (
        Alert,
        AlertOccurrence,
        AuditEvent,
        EvidenceFile,
        WorkOrder,
    )
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (Alert, AlertOccurrence, AuditEvent, EvidenceFile, WorkOrder)}
