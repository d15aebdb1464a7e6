"""The SLA clock: working days and hours on the official calendar, and `gridgov sla`."""

import datetime as dt
import random
import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridgov.cases import calendar as cal
from gridgov.cases import sla
from gridgov.cases.choices import LimitUnit, Urgency
from gridgov.cases.models import Category

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
H = dt.timedelta(hours=1)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    cal.invalidate_calendar_cache()
    yield
    cal.invalidate_calendar_cache()


@pytest.fixture
def official():
    """The official schedule 2024–2026 from chinese-calendar 1.11.0 (2027: not published)."""
    cal.seed_from_chinese_calendar([2024, 2025, 2026, 2027])


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def add(start: str, **kwargs) -> str:
    result = sla.add_working_time(at(start), **kwargs)
    assert result.utcoffset() == dt.timedelta(hours=8)
    return result.replace(tzinfo=None).isoformat(timespec="minutes")


# ---------------------------------------------------------------- working days


@pytest.mark.parametrize(
    "start, days, expected",
    [
        # Spring Festival 2026: 02-15…02-23 off, make-up working Saturdays 02-14 and 02-28
        ("2026-02-13T10:00", 1, "2026-02-14T10:00"),  # the make-up Saturday counts
        ("2026-02-13T10:00", 2, "2026-02-24T10:00"),
        ("2026-02-13T10:00", 3, "2026-02-25T10:00"),
        ("2026-02-14T16:00", 1, "2026-02-24T16:00"),  # reported on the make-up Saturday
        ("2026-02-15T10:00", 1, "2026-02-25T08:30"),  # reported during the holiday: starts 02-24 08:30
        ("2026-02-27T10:00", 1, "2026-02-28T10:00"),  # second make-up Saturday
        ("2026-02-27T10:00", 2, "2026-03-02T10:00"),
        # National Day 2026: 10-01…10-07 off, make-up working days Sunday 09-20 and Saturday 10-10
        ("2026-09-18T09:00", 1, "2026-09-20T09:00"),
        ("2026-09-30T16:00", 1, "2026-10-08T16:00"),
        ("2026-09-30T16:00", 3, "2026-10-10T16:00"),
        ("2026-09-30T16:00", 4, "2026-10-12T16:00"),
        # 2027 is not in chinese-calendar 1.11.0: weekends only, no crash
        ("2027-02-05T16:00", 1, "2027-02-08T16:00"),
        ("2026-12-31T10:00", 2, "2027-01-04T10:00"),
        # outside working hours the clock starts at the next working period
        ("2026-03-06T18:00", 1, "2026-03-10T08:30"),  # Friday evening → Monday 08:30 → Tuesday
        ("2026-03-07T10:00", 1, "2026-03-10T08:30"),  # Saturday
        ("2026-03-02T12:30", 1, "2026-03-03T14:00"),  # lunch break
        ("2026-03-02T12:00", 1, "2026-03-03T14:00"),  # 12:00 is already outside the morning
        ("2026-03-02T06:00", 1, "2026-03-03T08:30"),
        ("2026-03-02T17:29", 1, "2026-03-03T17:29"),
    ],
)
def test_working_days(official, start, days, expected):
    assert add(start, days=days) == expected


def test_working_days_are_whole_working_days_of_time(official):
    start = at("2026-02-13T10:00")
    due = sla.add_working_time(start, days=3)
    assert sla.working_time_between(start, due) == 3 * sla.daily_working_time() == 21 * H


def test_without_any_calendar_data_weekends_still_count():
    from gridgov.cases.models import CalendarDay, CalendarYear

    CalendarDay.objects.all().delete()  # the cases migration 0002 seeds 2004–2026
    CalendarYear.objects.all().delete()
    cal.invalidate_calendar_cache()
    assert add("2026-02-13T10:00", days=3) == "2026-02-18T10:00"
    assert add("2031-05-30T10:00", days=1) == "2031-06-02T10:00"


# ---------------------------------------------------------------- working hours


@pytest.mark.parametrize(
    "start, hours, expected",
    [
        ("2026-03-02T09:00", 2, "2026-03-02T11:00"),
        ("2026-03-02T11:00", 1, "2026-03-02T12:00"),  # ends exactly at the lunch break
        ("2026-03-02T11:00", 2, "2026-03-02T15:00"),  # crosses lunch
        ("2026-03-02T12:30", 1, "2026-03-02T15:00"),  # starts in the lunch break
        ("2026-03-02T16:30", 1, "2026-03-02T17:30"),  # ends at closing time, not next morning
        ("2026-03-02T16:30", 2, "2026-03-03T09:30"),  # crosses the evening
        ("2026-03-02T20:00", 1, "2026-03-03T09:30"),
        ("2026-03-02T07:00", 0.5, "2026-03-02T09:00"),
        ("2026-03-06T17:00", 1, "2026-03-09T09:00"),  # Friday → Monday
        ("2026-02-13T17:00", 1, "2026-02-14T09:00"),  # → make-up Saturday
        ("2026-02-14T17:00", 1, "2026-02-24T09:00"),  # across Spring Festival
        ("2026-03-02T08:30", 7, "2026-03-02T17:30"),  # one full day
        ("2026-03-02T08:30", 70, "2026-03-13T17:30"),  # ten full days
        ("2026-03-02T10:00", 7, "2026-03-03T10:00"),
        ("2026-09-30T15:00", 3, "2026-10-08T09:00"),  # across National Day
    ],
)
def test_working_hours(official, start, hours, expected):
    assert add(start, hours=hours) == expected


def test_days_then_hours(official):
    assert add("2026-02-13T10:00", days=3, hours=2) == "2026-02-25T12:00"
    assert add("2026-02-13T10:00", days=3, hours=3) == "2026-02-25T15:00"


def test_zero_returns_start_unchanged():
    start = at("2026-03-07T03:00")
    assert sla.add_working_time(start) == start
    assert sla.add_working_time(start, days=0, hours=0.0) == start


def test_fractional_hours_are_exact(official):
    assert sla.add_working_time(at("2026-03-02T11:59"), hours=1 / 60) == at("2026-03-02T12:00")
    assert sla.add_working_time(at("2026-03-02T11:59"), hours=2 / 60) == at("2026-03-02T14:01")


def test_aware_in_any_zone_aware_out_in_shanghai(official):
    start_utc = dt.datetime(2026, 2, 13, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    due = sla.add_working_time(start_utc, days=3)
    assert due == at("2026-02-25T10:00")
    assert str(due.tzinfo) == "Asia/Shanghai"


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.add_working_time(dt.datetime(2026, 3, 2, 10), days=1)
    with pytest.raises(ValueError):
        sla.add_working_time(at("2026-03-02T10:00"), days=-1)
    with pytest.raises(ValueError):
        sla.add_working_time(at("2026-03-02T10:00"), days=1.5)
    with pytest.raises(ValueError):
        sla.add_working_time(at("2026-03-02T10:00"), hours=-0.5)


def test_custom_working_hours(settings, official):
    settings.GRIDGOV = {**settings.GRIDGOV, "WORKING_HOURS": [("09:00", "17:00")]}
    assert add("2026-03-02T16:00", hours=2) == "2026-03-03T10:00"
    assert add("2026-03-02T12:30", days=1) == "2026-03-03T12:30"  # no lunch break any more
    assert sla.daily_working_time() == 8 * H


def test_random_starts_add_exactly_the_working_time_asked_for(official):
    rng = random.Random(20260213)
    base = at("2025-12-20T00:00")
    for _ in range(300):
        start = base + dt.timedelta(minutes=rng.randrange(0, 400 * 24 * 60))
        hours = rng.choice([0.25, 1, 3.5, 7, 8, 24, 40, 100]) * rng.random() + 0.01
        due = sla.add_working_time(start, hours=hours)
        assert due > start
        assert abs(sla.working_time_between(start, due) - dt.timedelta(hours=hours)) <= dt.timedelta(microseconds=2)
        days = rng.randrange(1, 15)
        due = sla.add_working_time(start, days=days)
        assert sla.working_time_between(start, due) == days * sla.daily_working_time()
        assert cal.get_calendar().is_working_day(due.date())


# ---------------------------------------------------------------- between, deadlines


def test_working_time_between(official):
    assert sla.working_time_between(at("2026-03-02T11:00"), at("2026-03-02T15:00")) == 2 * H
    assert sla.working_time_between(at("2026-03-02T15:00"), at("2026-03-02T11:00")) == -2 * H
    assert sla.working_time_between(at("2026-03-07T09:00"), at("2026-03-08T18:00")) == dt.timedelta(0)
    assert sla.working_time_between(at("2026-02-13T10:00"), at("2026-02-25T10:00")) == 21 * H
    # a whole month: 22 working days in March 2026
    assert sla.working_time_between(at("2026-03-01T00:00"), at("2026-04-01T00:00")) == 22 * 7 * H


def test_deadline_for_each_unit(official):
    start = at("2026-02-13T10:00")
    assert sla.deadline_for(start, 3, LimitUnit.WORKING_DAYS) == at("2026-02-25T10:00")
    assert sla.deadline_for(start, 3, "working_days") == at("2026-02-25T10:00")
    assert sla.deadline_for(start, 8, LimitUnit.WORKING_HOURS) == at("2026-02-14T11:00")
    assert sla.deadline_for(start, 24, LimitUnit.CALENDAR_HOURS) == at("2026-02-14T10:00")
    assert sla.deadline_for(start, 72, LimitUnit.CALENDAR_HOURS) == at("2026-02-16T10:00")  # holidays don't matter
    with pytest.raises(ValueError, match="unit"):
        sla.deadline_for(start, 3, "fortnights")
    with pytest.raises(ValueError):
        sla.deadline_for(start, -1, LimitUnit.WORKING_DAYS)
    with pytest.raises(ValueError):
        sla.deadline_for(dt.datetime(2026, 2, 13, 10), 1, LimitUnit.CALENDAR_HOURS)


def test_category_limits_feed_deadline_for(official):
    category = Category.objects.create(code="T01", name="占道经营", normal_limit=3)
    start = at("2026-02-13T10:00")
    assert sla.deadline_for(start, *category.limit_for(Urgency.NORMAL)) == at("2026-02-25T10:00")
    assert sla.deadline_for(start, *category.limit_for(Urgency.URGENT)) == at("2026-02-14T10:00")


def test_compute_deadlines_warns_at_the_share_of_working_time(official):
    start = at("2026-02-13T10:00")
    due, warn = sla.compute_deadlines(start, 3, LimitUnit.WORKING_DAYS)
    assert due == at("2026-02-25T10:00")
    # 80 % of 21 h = 16.8 h: 5.5 h on Friday, 7 h on the make-up Saturday, 4.3 h on 02-24
    assert warn == at("2026-02-24T14:48")
    assert sla.working_time_between(start, warn) == dt.timedelta(hours=16.8)

    due, warn = sla.compute_deadlines(start, 3, LimitUnit.WORKING_DAYS, warning_share=0.5)
    assert warn == at("2026-02-14T15:30")
    assert sla.working_time_between(start, warn) == dt.timedelta(hours=10.5)

    due, warn = sla.compute_deadlines(start, 24, LimitUnit.CALENDAR_HOURS)
    assert (due, warn) == (at("2026-02-14T10:00"), at("2026-02-14T05:12"))

    due, warn = sla.compute_deadlines(start, 10, LimitUnit.WORKING_HOURS)
    assert due == at("2026-02-14T15:00")
    assert warn == at("2026-02-14T11:00")  # 8 h of working time

    due, warn = sla.compute_deadlines(start, 0, LimitUnit.WORKING_DAYS)
    assert due == warn == start


def test_compute_deadlines_default_share_comes_from_settings(settings, official):
    settings.GRIDGOV = {**settings.GRIDGOV, "SLA_WARNING_SHARE": 0.5}
    start = at("2026-03-02T08:30")
    due, warn = sla.compute_deadlines(start, 2, LimitUnit.WORKING_DAYS)
    assert (due, warn) == (at("2026-03-04T08:30"), at("2026-03-02T17:30"))
    with pytest.raises(ValueError, match="warning_share"):
        sla.compute_deadlines(start, 2, LimitUnit.WORKING_DAYS, warning_share=1.5)


def test_deadlines_are_fast(official):
    cal.get_calendar()
    start = at("2026-01-05T09:00")
    began = time.perf_counter()
    for i in range(5000):
        sla.compute_deadlines(start + dt.timedelta(minutes=97 * i), 5, LimitUnit.WORKING_DAYS)
    elapsed = time.perf_counter() - began
    assert elapsed < 2.5, f"5000 compute_deadlines took {elapsed:.2f} s"


# ---------------------------------------------------------------- gridgov sla


def run_sla(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sla", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_command_prints_iso_deadlines(official):
    assert run_sla("--start", "2026-02-13T10:00+08:00", "--working-days", "3")[0] == "2026-02-25T10:00:00+08:00"
    assert run_sla("--start", "2026-02-13T10:00+08:00", "--working-hours", "8")[0] == "2026-02-14T11:00:00+08:00"
    assert run_sla("--start", "2026-02-13T10:00+08:00", "--calendar-hours", "1.5")[0] == "2026-02-13T11:30:00+08:00"
    assert run_sla("--start", "2026-02-13T02:00Z", "--working-days", "3")[0] == "2026-02-25T10:00:00+08:00"
    assert run_sla("--start", "2026-02-13T10:00", "--working-days", "3")[0] == "2026-02-25T10:00:00+08:00"
    out, _ = run_sla("--start", "2026-02-13T10:00+08:00", "--working-days", "3", "--warning")
    assert out.splitlines() == ["2026-02-25T10:00:00+08:00", "2026-02-24T14:48:00+08:00"]


def test_command_warns_for_an_unpublished_year(official):
    out, err = run_sla("--start", "2027-02-05T16:00+08:00", "--working-days", "1")
    assert out == "2027-02-08T16:00:00+08:00"
    assert "2027 年的官方节假日安排尚未录入" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "2026-02-30T10:00+08:00", "--working-days", "3"], "ISO-8601"),
        (["--start", "yesterday", "--working-days", "3"], "ISO-8601"),
        (["--start", "2026-02-13T10:00+08:00", "--working-days", "-1"], "≥ 0"),
        (["--start", "2026-02-13T10:00+08:00", "--working-days", "1.5"], "whole number"),
        (["--start", "2026-02-13T10:00+08:00", "--working-hours", "nan"], "≥ 0"),
        (["--start", "2026-02-13T10:00+08:00", "--calendar-hours", "-3"], "≥ 0"),
        (["--start", "2026-02-13T10:00+08:00", "--working-days", "1e9"], "whole number"),
        (["--start", "2026-02-13T10:00+08:00", "--working-days", "999999"], "too large"),
        (["--start", "2026-02-13T10:00+08:00"], "exactly one"),
        (["--start", "2026-02-13T10:00+08:00", "--working-days", "1", "--working-hours", "2"], "exactly one"),
    ],
)
def test_command_rejects_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run_sla(*args)


def test_command_exit_status_from_the_shell():
    """The real `gridgov sla` exits non-zero with the message on stderr (no database needed)."""
    bad = subprocess.run(
        [sys.executable, "-m", "gridgov.cli", "sla", "--start", "not-a-date", "--working-days", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode != 0
    assert "ISO-8601" in bad.stderr
    neither = subprocess.run(
        [sys.executable, "-m", "gridgov.cli", "sla", "--start", "2026-02-13T10:00+08:00"],
        capture_output=True, text=True, timeout=120,
    )
    assert neither.returncode != 0
    assert "exactly one" in neither.stderr
