"""Assessment periods: ``2026``, ``2026-Q3``, ``2026-11`` or ``2026-11-01..2026-11-15``
(local dates, Asia/Shanghai; the end date of a range is included)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from webapp.platform.clock import LOCAL_TZ


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    first: date   # first day, local
    last: date    # last day, local (inclusive)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), LOCAL_TZ).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        """Exclusive end instant (UTC)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), LOCAL_TZ).astimezone(timezone.utc)


def _month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def parse_period(text: str) -> Period:
    s = (text or "").strip()
    try:
        if m := re.fullmatch(r"(\d{4})", s):
            y = int(m[1])
            return Period(s, date(y, 1, 1), date(y, 12, 31))
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", s, re.I):
            y, q = int(m[1]), int(m[2])
            return Period(f"{y}-Q{q}", date(y, 3 * q - 2, 1), _month_end(y, 3 * q))
        if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
            y, mo = int(m[1]), int(m[2])
            return Period(s, date(y, mo, 1), _month_end(y, mo))
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", s):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if last < first:
                raise PeriodError(f"period {s}: the end date is before the start date")
            return Period(s, first, last)
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"period {s}: {exc}") from None
    raise PeriodError(f"period {s!r} must look like 2026, 2026-Q3, 2026-11 or 2026-11-01..2026-11-15")


def previous_month(today: date) -> Period:
    first = today.replace(day=1) - timedelta(days=1)
    return parse_period(f"{first:%Y-%m}")


def months_of_year(year: int) -> list[Period]:
    return [parse_period(f"{year}-{m:02d}") for m in range(1, 13)]
