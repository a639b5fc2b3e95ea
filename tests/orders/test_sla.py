"""SLA arithmetic (webapp/sla.py) as pure unit tests: no app, no database."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from webapp.orders import sla
from webapp.platform.clock import LOCAL_TZ
from webapp.plugin_api import Clock


def local(day: int, hh: int, mm: int = 0, month: int = 11) -> datetime:
    """A local (Asia/Shanghai) time in November 2026 (the 20th is a Friday)."""
    return datetime(2026, month, day, hh, mm, tzinfo=LOCAL_TZ)


WEEK = sla.WorkCalendar()


@pytest.mark.parametrize("clock_text, expected", [
    ("10m", local(20, 2, 23)),
    ("60m", local(20, 3, 13)),
    ("24h", local(21, 2, 13)),
    ("1wd", local(21, 2, 13)),  # natural time counts a working day as 24 h
])
def test_natural_time_ignores_nights_and_weekends(clock_text, expected):
    start = local(20, 2, 13)
    assert sla.deadline(start, clock_text, "natural", WEEK) == expected


@pytest.mark.parametrize("start, clock_text, expected", [
    # Night: counting starts when the office opens.
    (local(20, 2, 13), "2h", local(20, 10, 30)),
    # Lunch break is not counted.
    (local(20, 11, 0), "2h", local(20, 15, 30)),
    (local(20, 12, 30), "30m", local(20, 15, 0)),
    # Friday evening runs over the weekend into Monday.
    (local(20, 17, 0), "2h", local(23, 9, 30)),
    (local(20, 18, 0), "30m", local(23, 9, 0)),
    # Ending exactly when a period closes.
    (local(20, 8, 30), "210m", local(20, 12, 0)),
    # Working days: the same time of day N working days later.
    (local(18, 10, 0), "1wd", local(19, 10, 0)),
    (local(20, 10, 0), "3wd", local(25, 10, 0)),
    (local(20, 16, 0), "1wd", local(23, 16, 0)),
    # Saturday start: nothing counts before Monday 08:30.
    (local(21, 9, 0), "4h", local(23, 15, 0)),
])
def test_working_time_over_lunch_nights_and_weekends(start, clock_text, expected):
    assert sla.deadline(start, clock_text, "working", WEEK) == expected


def test_public_holiday_removes_a_weekday():
    calendar = sla.make_calendar([(date(2026, 11, 23), "holiday")])
    assert sla.deadline(local(20, 17, 0), "2h", "working", calendar) == local(24, 9, 30)
    assert sla.deadline(local(20, 10, 0), "1wd", "working", calendar) == local(24, 10, 0)


def test_make_up_working_day_adds_a_weekend_day():
    calendar = sla.make_calendar([(date(2026, 11, 21), "workday")])
    assert sla.deadline(local(20, 17, 0), "2h", "working", calendar) == local(21, 9, 30)
    assert sla.deadline(local(20, 10, 0), "1wd", "working", calendar) == local(21, 10, 0)


def test_holiday_week_with_make_up_days():
    # National-day style: Thu–Wed off, the Sunday before and Saturday after worked.
    days = [(date(2026, 10, d), "holiday") for d in (1, 2, 5, 6, 7)]
    days += [(date(2026, 9, 27), "workday"), (date(2026, 10, 10), "workday")]
    calendar = sla.make_calendar(days)
    start = datetime(2026, 9, 30, 17, 0, tzinfo=LOCAL_TZ)  # Wednesday evening
    assert sla.deadline(start, "2h", "working", calendar) == datetime(2026, 10, 8, 9, 30, tzinfo=LOCAL_TZ)
    assert sla.deadline(start, "3wd", "working", calendar) == datetime(2026, 10, 10, 17, 0, tzinfo=LOCAL_TZ)
    # Natural time does not care about the calendar.
    assert sla.deadline(start, "24h", "natural", calendar) == start + timedelta(hours=24)


def test_utc_in_utc_out_and_naive_refused():
    start = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)  # 02:13 local
    due = sla.deadline(start, "2h", "working", WEEK)
    assert due.tzinfo == timezone.utc
    assert due == local(20, 10, 30)
    with pytest.raises(ValueError):
        sla.deadline(datetime(2026, 11, 20, 10, 0), "2h", "working", WEEK)
    with pytest.raises(ValueError):
        sla.deadline(start, "2h", "lunar", WEEK)


def test_elapsed_fraction_counts_working_time_only():
    start = local(20, 11, 0)
    due = sla.deadline(start, "2h", "working", WEEK)  # 15:30
    assert sla.elapsed_fraction(start, due, local(20, 12, 0), "working", WEEK) == pytest.approx(0.5)
    assert sla.elapsed_fraction(start, due, local(20, 14, 0), "working", WEEK) == pytest.approx(0.5)
    assert sla.elapsed_fraction(start, due, local(20, 15, 0), "working", WEEK) == pytest.approx(0.75)
    assert sla.elapsed_fraction(start, due, due, "working", WEEK) == pytest.approx(1.0)
    assert sla.elapsed_fraction(start, due, local(23, 9, 0), "working", WEEK) > 1.0


def test_elapsed_fraction_natural_and_warning_point():
    start = local(20, 2, 13)
    due = sla.deadline(start, "60m", "natural")
    assert sla.elapsed_fraction(start, due, start + timedelta(minutes=44), "natural") < sla.WARN_FRACTION
    assert sla.elapsed_fraction(start, due, start + timedelta(minutes=45), "natural") == pytest.approx(0.75)
    assert sla.elapsed_fraction(start, due, start + timedelta(minutes=61), "natural") > 1.0


def test_remaining_is_negative_once_overdue():
    due = local(20, 17, 0)
    assert sla.remaining(due, local(20, 16, 0), "working", WEEK) == timedelta(hours=1)
    # Over the weekend only Monday's working time counts.
    assert sla.remaining(due, local(23, 9, 0), "working", WEEK) == -timedelta(hours=1, minutes=30)
    assert sla.remaining(due, local(20, 18, 0), "natural") == -timedelta(hours=1)


def test_working_time_between_spans_a_weekend():
    assert sla.working_time_between(local(20, 8, 0), local(23, 23, 0), WEEK) == timedelta(hours=14)
    assert sla.working_time_between(local(23, 9, 0), local(20, 9, 0), WEEK) == timedelta(0)


def test_configurable_schedule():
    schedule = sla.Schedule.parse("09:00-17:00")
    assert schedule.minutes_per_day == 480
    assert sla.deadline(local(20, 16, 0), "2h", "working", WEEK, schedule) == local(23, 10, 0)
    # Started at opening time, one working day is that whole day.
    assert sla.deadline(local(20, 9, 0), "1wd", "working", WEEK, schedule) == local(20, 17, 0)
    assert sla.deadline(local(20, 9, 1), "1wd", "working", WEEK, schedule) == local(23, 9, 1)
    assert sla.Schedule().minutes_per_day == 420
    assert sla.Schedule().periods[0] == (time(8, 30), time(12, 0))


@pytest.mark.parametrize("text", ["", "8-12", "12:00-08:30", "08:30-12:00,11:00-13:00", "nonsense"])
def test_bad_office_hours_refused(text):
    with pytest.raises(ValueError):
        sla.Schedule.parse(text)


def test_bad_calendar_kind_refused():
    with pytest.raises(ValueError):
        sla.make_calendar([(date(2026, 1, 1), "party")])


def test_calendar_with_no_working_day_is_an_error_not_a_hang():
    every_day = sla.WorkCalendar(holidays=frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(4000)))
    with pytest.raises(ValueError):
        sla.deadline(datetime(2026, 1, 1, 9, tzinfo=LOCAL_TZ), "1h", "working", every_day)


def test_clock_objects_accepted():
    assert sla.deadline(local(20, 9, 0), Clock(minutes=30), "working") == local(20, 9, 30)
