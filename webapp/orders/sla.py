"""SLA arithmetic: deadlines and elapsed fractions in natural or working time.

Working time follows the office schedule (default 08:30–12:00 and 14:30–18:00,
Asia/Shanghai) on Monday–Friday, minus public holidays, plus make-up working
days (调休) — both from the calendar (DESIGN.md §6).

A clock of ``N`` working days is ``N`` times the schedule's daily working
minutes counted in working time, so a clock started inside office hours ends
at the same time of day ``N`` working days later. On a natural-time basis a
working day counts as 24 hours.

Everything here is pure: callers pass the :class:`WorkCalendar` and the
:class:`Schedule`; :func:`calendar_from_db` and :func:`schedule_from_config`
build them from the database and the app config.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from webapp.extensions import db
from webapp.models import CalendarDay
from webapp.platform.clock import LOCAL_TZ
from webapp.plugin_api import Clock, TimeBasis

DEFAULT_OFFICE_HOURS = "08:30-12:00,14:30-18:00"
# A deadline further away than this is a configuration error, not a clock.
_MAX_DAYS = 3660
STAGES = ("accept", "arrive", "feedback")
WARN_FRACTION = 0.75


@dataclass(frozen=True)
class Schedule:
    """The office's working periods in one day, in local time."""

    periods: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))
    tz: ZoneInfo = LOCAL_TZ

    def __post_init__(self) -> None:
        last = time(0, 0)
        if not self.periods:
            raise ValueError("an office schedule needs at least one period")
        for start, end in self.periods:
            if not (last <= start < end):
                raise ValueError("office periods must be ordered and not overlap")
            last = end

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo = LOCAL_TZ) -> "Schedule":
        """Read ``"08:30-12:00,14:30-18:00"``."""
        periods = []
        try:
            for part in text.split(","):
                a, b = part.strip().split("-")
                periods.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
        except ValueError:
            raise ValueError(f"cannot read office hours {text!r}: use e.g. {DEFAULT_OFFICE_HOURS}") from None
        return cls(tuple(periods), tz)

    @property
    def minutes_per_day(self) -> int:
        return sum((_minutes(b) - _minutes(a)) for a, b in self.periods)


@dataclass(frozen=True)
class WorkCalendar:
    """Exceptions to the Monday–Friday week."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() < 5


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _periods_of(day: date, schedule: Schedule) -> Iterator[tuple[datetime, datetime]]:
    for a, b in schedule.periods:
        yield (datetime.combine(day, a, tzinfo=schedule.tz), datetime.combine(day, b, tzinfo=schedule.tz))


def _working_periods_from(start: datetime, calendar: WorkCalendar, schedule: Schedule
                          ) -> Iterator[tuple[datetime, datetime]]:
    """Working periods (local, aware) from ``start`` on, the first one clipped."""
    local_start = start.astimezone(schedule.tz)
    day = local_start.date()
    for _ in range(_MAX_DAYS):
        if calendar.is_working_day(day):
            for a, b in _periods_of(day, schedule):
                if b <= local_start:
                    continue
                yield max(a, local_start), b
        day += timedelta(days=1)
    raise ValueError("no working time found within ten years: check the calendar")


def add_working_time(start: datetime, length: timedelta, calendar: WorkCalendar | None = None,
                     schedule: Schedule | None = None) -> datetime:
    """``start`` plus ``length`` of working time. A start outside office hours
    begins counting when the next working period opens."""
    if start.tzinfo is None:
        raise ValueError("SLA arithmetic needs aware datetimes")
    calendar, schedule = calendar or WorkCalendar(), schedule or Schedule()
    remaining = length
    for a, b in _working_periods_from(start, calendar, schedule):
        span = b - a
        if remaining <= span:
            return (a + remaining).astimezone(start.tzinfo)
        remaining -= span
    raise AssertionError("unreachable")  # pragma: no cover


def working_time_between(start: datetime, end: datetime, calendar: WorkCalendar | None = None,
                         schedule: Schedule | None = None) -> timedelta:
    """Working time from ``start`` to ``end`` (zero when end is not later)."""
    calendar, schedule = calendar or WorkCalendar(), schedule or Schedule()
    total = timedelta(0)
    if end <= start:
        return total
    end_local = end.astimezone(schedule.tz)
    for a, b in _working_periods_from(start, calendar, schedule):
        if a >= end_local:
            break
        total += min(b, end_local) - a
    return total


def clock_length(clock: Clock, basis: TimeBasis, schedule: Schedule) -> timedelta:
    if basis == "natural":
        return timedelta(minutes=clock.minutes, days=clock.working_days)
    return timedelta(minutes=clock.minutes + clock.working_days * schedule.minutes_per_day)


def deadline(start: datetime, clock: Clock | str, basis: TimeBasis,
             calendar: WorkCalendar | None = None, schedule: Schedule | None = None) -> datetime:
    """When a clock of ``clock`` started at ``start`` runs out."""
    if isinstance(clock, str):
        clock = Clock.parse(clock)
    schedule = schedule or Schedule()
    if start.tzinfo is None:
        raise ValueError("SLA arithmetic needs aware datetimes")
    length = clock_length(clock, basis, schedule)
    if basis == "natural":
        return start + length
    if basis != "working":
        raise ValueError(f"unknown time basis {basis!r}: natural or working")
    return add_working_time(start, length, calendar or WorkCalendar(), schedule)


def elapsed_fraction(start: datetime, due: datetime, now: datetime, basis: TimeBasis,
                     calendar: WorkCalendar | None = None, schedule: Schedule | None = None) -> float:
    """How much of the clock from ``start`` to ``due`` has run by ``now`` (≥ 1 once due)."""
    if now >= due:
        return max(1.0, _ratio(start, due, now, basis, calendar, schedule))
    return _ratio(start, due, now, basis, calendar, schedule)


def _ratio(start, due, now, basis, calendar, schedule) -> float:
    if basis == "natural":
        whole, done = due - start, now - start
    else:
        calendar, schedule = calendar or WorkCalendar(), schedule or Schedule()
        whole = working_time_between(start, due, calendar, schedule)
        done = working_time_between(start, now, calendar, schedule)
    if whole <= timedelta(0):
        return 1.0 if now >= due else 0.0
    return max(0.0, done / whole)


def remaining(due: datetime, now: datetime, basis: TimeBasis,
              calendar: WorkCalendar | None = None, schedule: Schedule | None = None) -> timedelta:
    """Time left on a clock (negative when overdue), counted on its basis."""
    if basis == "natural":
        return due - now
    calendar, schedule = calendar or WorkCalendar(), schedule or Schedule()
    if now <= due:
        return working_time_between(now, due, calendar, schedule)
    return -working_time_between(due, now, calendar, schedule)


# -- building calendar and schedule from the app ------------------------------------

def make_calendar(days: Iterable[tuple[date, str]]) -> WorkCalendar:
    holidays, workdays = set(), set()
    for day, kind in days:
        if kind == "holiday":
            holidays.add(day)
        elif kind == "workday":
            workdays.add(day)
        else:
            raise ValueError(f"unknown calendar day kind {kind!r}: holiday or workday")
    return WorkCalendar(frozenset(holidays), frozenset(workdays))


def calendar_from_db() -> WorkCalendar:
    """The calendar from the CalendarDay rows."""
    from sqlalchemy import select


    return make_calendar(db.session.execute(select(CalendarDay.day, CalendarDay.kind)).all())


def schedule_from_config() -> Schedule:
    from flask import current_app

    return Schedule.parse(current_app.config.get("NRSC_OFFICE_HOURS") or DEFAULT_OFFICE_HOURS)
