"""The official working calendar: seeding from chinese-calendar, entering a year, the
cache and its invalidation, the system check and the admin warning."""

import csv
import datetime as dt
from io import StringIO
from pathlib import Path

import chinese_calendar
import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.management import call_command

from gridgov.cases import calendar as cal
from gridgov.cases import sla
from gridgov.cases.models import CalendarDay, CalendarYear

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
SHARED_CSV = Path("/work/shared/data/holidays/cn_statutory_2024_2026_from_chinese-calendar-1.11.0.csv")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    """The calendar cache outlives a test's rolled-back transaction: start and end clean."""
    cal.invalidate_calendar_cache()
    yield
    cal.invalidate_calendar_cache()


@pytest.fixture
def empty():
    """No calendar rows at all (the cases migration 0002 seeds them at migrate time)."""
    CalendarDay.objects.all().delete()
    CalendarYear.objects.all().delete()
    cal.invalidate_calendar_cache()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def days_of(year: int) -> dict[dt.date, tuple[str, str]]:
    return {d.date: (d.kind, d.name) for d in CalendarDay.objects.filter(date__year=year)}


# ---------------------------------------------------------------- the package itself


def test_package_spring_festival_2026_is_what_the_tests_assume():
    assert chinese_calendar.__version__ == "1.11.0"
    holidays, workdays = cal.package_schedule(2026)
    spring = sorted(d for d, n in holidays.items() if n == "春节")
    assert spring == [dt.date(2026, 2, d) for d in range(15, 24)]
    assert sorted(d for d, n in workdays.items() if n == "春节") == [dt.date(2026, 2, 14), dt.date(2026, 2, 28)]
    assert all(d.weekday() >= 5 for d in workdays)  # make-up days are weekend days
    national = sorted(d for d, n in holidays.items() if n == "国庆节")
    assert national == [dt.date(2026, 10, d) for d in range(1, 8)]


def test_package_does_not_cover_2027():
    assert cal.package_years() == range(2004, 2027)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 3, 1))
    with pytest.raises(LookupError):
        cal.package_schedule(2027)


# ---------------------------------------------------------------- seeding


def test_seed_creates_years_and_is_idempotent(empty):
    first = cal.seed_from_chinese_calendar([2025, 2026])
    assert first["seeded"] == [2025, 2026]
    assert first["created"] == CalendarDay.objects.count() > 50
    assert first["missing"] == []
    snapshot = sorted(CalendarDay.objects.values_list("id", "date", "kind", "name"))
    second = cal.seed_from_chinese_calendar([2025, 2026])
    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 0)
    assert sorted(CalendarDay.objects.values_list("id", "date", "kind", "name")) == snapshot
    years = {y.year: y for y in CalendarYear.objects.all()}
    assert set(years) == {2025, 2026}
    assert all(y.published and y.source == "chinese-calendar 1.11.0" for y in years.values())
    assert days_of(2026)[dt.date(2026, 2, 14)] == ("workday", "春节")
    assert days_of(2026)[dt.date(2026, 10, 1)] == ("holiday", "国庆节")


def test_seed_repairs_rows_that_drifted():
    cal.seed_from_chinese_calendar([2026])
    CalendarDay.objects.filter(date=dt.date(2026, 2, 14)).update(kind="holiday")
    CalendarDay.objects.create(date=dt.date(2026, 3, 3), kind="holiday", name="bogus")
    CalendarDay.objects.filter(date=dt.date(2026, 10, 2)).delete()
    report = cal.seed_from_chinese_calendar([2026])
    assert (report["created"], report["updated"], report["deleted"]) == (1, 1, 1)
    holidays, workdays = cal.package_schedule(2026)
    assert {d: k for d, (k, _) in days_of(2026).items()} == {
        **{d: "holiday" for d in holidays},
        **{d: "workday" for d in workdays},
    }


def test_seed_of_an_uncovered_year_never_raises_and_leaves_it_unpublished(empty):
    report = cal.seed_from_chinese_calendar([2026, 2027])
    assert report["seeded"] == [2026]
    assert report["missing"] == [2027]
    assert CalendarYear.objects.get(year=2027).published is False
    assert not CalendarDay.objects.filter(date__year=2027).exists()


def test_seed_keeps_a_year_entered_by_hand_unless_forced():
    cal.enter_year(2026, {dt.date(2026, 1, 1): "元旦"}, [], "国办发明电〔2025〕7号")
    report = cal.seed_from_chinese_calendar([2026])
    assert report["kept"] == [2026]
    assert CalendarDay.objects.filter(date__year=2026).count() == 1
    report = cal.seed_from_chinese_calendar([2026], force=True)
    assert report["seeded"] == [2026]
    assert CalendarDay.objects.filter(date__year=2026).count() > 30
    assert CalendarYear.objects.get(year=2026).source == "chinese-calendar 1.11.0"


@pytest.mark.skipif(not SHARED_CSV.parent.exists(), reason=f"{SHARED_CSV.parent} is absent")
def test_seed_matches_the_shared_reference_csv():
    cal.seed_from_chinese_calendar([2024, 2025, 2026])
    kinds = {"holiday": "holiday", "makeup_workday": "workday"}
    with SHARED_CSV.open(newline="", encoding="utf-8") as handle:
        expected = {dt.date.fromisoformat(row["date"]): kinds[row["kind"]] for row in csv.DictReader(handle)}
    stored = dict(
        CalendarDay.objects.filter(date__year__in=[2024, 2025, 2026]).values_list("date", "kind")
    )
    assert stored == expected
    # and the SLA clock agrees with it day by day
    working = cal.get_calendar()
    day = dt.date(2024, 1, 1)
    while day.year <= 2026:
        official = expected.get(day)
        should_work = official == "workday" or (official is None and day.weekday() < 5)
        assert working.is_working_day(day) is should_work, day
        day += dt.timedelta(days=1)


def test_seed_command_and_its_errors(empty):
    out, err = StringIO(), StringIO()
    call_command("seed_calendar", "--from", "2025", "--to", "2027", stdout=out, stderr=err)
    assert "seeded 2 years" in out.getvalue() and "0 days created" not in out.getvalue()
    assert "2027" in err.getvalue()
    out = StringIO()
    call_command("seed_calendar", "--from", "2025", "--to", "2026", stdout=out)
    assert "0 days created, 0 updated, 0 deleted" in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="after"):
        call_command("seed_calendar", "--from", "2026", "--to", "2025")
    with pytest.raises(CommandError, match="年份"):
        call_command("seed_calendar", "--from", "twenty")


def test_ensure_calendar_covers_package_years_and_marks_the_rest_missing(empty):
    report = cal.ensure_calendar(today=dt.date(2026, 11, 24))
    assert report["seeded"] == list(range(2004, 2027))
    assert report["missing"] == [2027]
    again = cal.ensure_calendar(today=dt.date(2026, 11, 24))
    assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)


# ---------------------------------------------------------------- entering a year


SPRING_2027 = {dt.date(2027, 2, d): "春节" for d in range(6, 13)}  # a schedule for the tests


def test_enter_year_and_validation():
    year = cal.enter_year(2027, {**SPRING_2027, "2027-01-01": "元旦"}, [("2027-02-20", "春节")], "国办发明电〔2026〕1号")
    assert year.published and year.source == "国办发明电〔2026〕1号"
    assert len(days_of(2027)) == 9
    # entering again replaces the year exactly
    cal.enter_year(2027, ["2027-01-01"], [], "更正")
    assert days_of(2027) == {dt.date(2027, 1, 1): ("holiday", "")}

    for holidays, workdays, message in [
        (["2026-12-31"], [], "不在 2027 年内"),
        (["2027-13-01"], [], "YYYY-MM-DD"),
        (["2027-02-20"], ["2027-02-20"], "既是节假日又是调休"),
        ([], ["2027-02-17"], "周六或周日"),
        ([42], [], "不是日期"),
    ]:
        with pytest.raises(ValidationError, match=message):
            cal.enter_year(2027, holidays, workdays, "x")
    assert days_of(2027) == {dt.date(2027, 1, 1): ("holiday", "")}  # nothing written on error


# ---------------------------------------------------------------- the cache


def test_entering_a_year_changes_deadlines_at_once():
    start = at("2027-02-05T10:00")  # a Friday before the (test) Spring Festival 2027
    assert sla.add_working_time(start, days=1) == at("2027-02-08T10:00")  # weekends only
    cal.enter_year(2027, SPRING_2027, {dt.date(2027, 2, 20): "春节"}, "test")
    assert sla.add_working_time(start, days=1) == at("2027-02-15T10:00")
    assert sla.add_working_time(start, days=6) == at("2027-02-20T10:00")  # the make-up Saturday


def test_orm_saves_invalidate_through_signals():
    start = at("2026-03-06T10:00")  # Friday
    assert sla.add_working_time(start, days=1) == at("2026-03-09T10:00")
    CalendarDay.objects.create(date=dt.date(2026, 3, 7), kind="workday", name="test")
    assert sla.add_working_time(start, days=1) == at("2026-03-07T10:00")
    CalendarDay.objects.filter(date=dt.date(2026, 3, 7)).get().delete()
    assert sla.add_working_time(start, days=1) == at("2026-03-09T10:00")


def test_changes_without_signals_are_seen_after_the_cache_interval(monkeypatch):
    """What another process writes (no signal reaches us) is seen within a second."""
    clock = [1000.0]
    monkeypatch.setattr(cal, "_monotonic", lambda: clock[0])
    start = at("2026-03-06T10:00")
    assert sla.add_working_time(start, days=1) == at("2026-03-09T10:00")
    CalendarDay.objects.bulk_create([CalendarDay(date=dt.date(2026, 3, 9), kind="holiday", name="x")])
    clock[0] += 0.5
    assert sla.add_working_time(start, days=1) == at("2026-03-09T10:00")  # still cached
    clock[0] += 0.6
    assert sla.add_working_time(start, days=1) == at("2026-03-10T10:00")


def test_cached_calendar_costs_no_query(django_assert_num_queries):
    cal.seed_from_chinese_calendar([2026])
    cal.get_calendar()
    with django_assert_num_queries(0):
        for hour in range(100):
            sla.compute_deadlines(at("2026-02-13T10:00") + dt.timedelta(hours=hour), 3, "working_days")


def test_cache_interval_zero_reloads_every_call(settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.GRIDGOV = {**settings.GRIDGOV, "CALENDAR_CACHE_SECONDS": 0}
    cal.get_calendar()
    with CaptureQueriesContext(connection) as queries:
        cal.get_calendar()
        cal.get_calendar()
    assert sum("cases_calendarday" in q["sql"] for q in queries.captured_queries) == 2


# ---------------------------------------------------------------- warnings for admins


def _w101(**kwargs):
    return [m for m in run_checks(**kwargs) if m.id == "gridgov.W101"]


def test_system_check_warns_while_current_or_next_year_is_unpublished(empty, monkeypatch):
    cal.seed_from_chinese_calendar([2025, 2026, 2027])
    monkeypatch.setattr(cal, "local_today", lambda: dt.date(2026, 11, 24))
    (warning,) = _w101(databases=["default"])
    assert "2027 年" in warning.msg and "2026 年" not in warning.msg
    assert _w101() == []  # database checks run only when asked (migrate, check --database)

    cal.enter_year(2027, SPRING_2027, [], "test")
    assert _w101(databases=["default"]) == []

    monkeypatch.setattr(cal, "local_today", lambda: dt.date(2027, 6, 1))  # 2028 unknown
    (warning,) = _w101(databases=["default"])
    assert "2028 年" in warning.msg


def test_system_check_rejects_malformed_working_hours(settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "WORKING_HOURS": [("08:30", "12:00"), ("11:00", "17:30")]}
    assert [m.id for m in run_checks() if m.id.startswith("gridgov.E")] == ["gridgov.E101"]
    settings.GRIDGOV = {**settings.GRIDGOV, "WORKING_HOURS": [("8h", "12:00")]}
    assert [m.id for m in run_checks() if m.id.startswith("gridgov.E")] == ["gridgov.E101"]


def test_admin_lists_and_warns_about_unpublished_years(empty, admin_client, monkeypatch):
    import gridgov.cases.admin_calendar  # noqa: F401  (registers; gridgov.cases.admin imports it too)

    cal.seed_from_chinese_calendar([2026, 2027])
    monkeypatch.setattr(cal, "local_today", lambda: dt.date(2026, 11, 24))
    response = admin_client.get("/admin/cases/calendaryear/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "2027 年的官方节假日安排尚未录入" in body
    response = admin_client.get("/admin/cases/calendarday/")
    assert response.status_code == 200
    assert "尚未录入" in response.content.decode()


def test_admin_form_enters_a_newly_published_year(empty, admin_client):
    import gridgov.cases.admin_calendar  # noqa: F401

    cal.seed_from_chinese_calendar([2027])  # an unpublished placeholder row
    year = CalendarYear.objects.get(year=2027)
    url = f"/admin/cases/calendaryear/{year.pk}/change/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"year": 2027, "published": "on", "source": "x", "holidays_text": "2027-02-30 春节"})
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.content.decode()
    response = admin_client.post(
        url,
        {
            "year": 2027,
            "published": "on",
            "source": "国办发明电〔2026〕1号",
            "holidays_text": "\n".join(f"{d.isoformat()} 春节" for d in SPRING_2027),
            "workdays_text": "2027-02-20 春节",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    year.refresh_from_db()
    assert year.published and year.source == "国办发明电〔2026〕1号"
    assert days_of(2027)[dt.date(2027, 2, 20)] == ("workday", "春节")
    assert sla.add_working_time(at("2027-02-05T10:00"), days=1) == at("2027-02-15T10:00")
