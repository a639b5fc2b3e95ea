"""Who may see an alert and its evidence files (used by the JSON API and the
/files/<id> route): the one rule in webapp/org/visibility.py."""
from __future__ import annotations

from webapp.models import Alert, EvidenceFile, User
from webapp.org import visibility


def can_see_alert(alert: Alert, *, user: User | None, source: str | None) -> bool:
    return visibility.can_see_alert(user, alert, source=source)


def can_see_file(row: EvidenceFile, user: User) -> bool:
    return visibility.can_see_file(user, row)
