"""The official working calendar (工作日历): statutory holidays and make-up working days
(调休) stored as data, and a per-process cache of it that other processes' changes reach.

Data
    ``CalendarDay`` rows are the exceptions to the Monday–Friday week: a ``holiday`` is a
    day off (also when it falls on a weekend, as in the official schedule), a ``workday``
    is a make-up working day on a weekend. ``CalendarYear`` says whether a year's official
    schedule (国务院办公厅关于部分节假日安排的通知) has been entered (``published``).

    A year that has not been published still works: it counts Monday–Friday as working
    days and weekends as days off. The system check ``gridgov.W101`` and the admin
    changelist warn while the current or next year is unpublished.

Seeding
    ``seed_from_chinese_calendar(years)`` copies the schedule of the pinned
    ``chinese-calendar`` package (1.11.0 covers 2004–2026) into the tables; it is
    idempotent and never overwrites a year an administrator entered by hand.
    ``enter_year(year, holidays, workdays, source)`` enters a newly published year (the
    admin form calls it). ``ensure_calendar()`` is what the demo/setup calls, and
    ``gridgov seed-calendar`` the command.

Cache
    ``get_calendar()`` returns an immutable ``WorkingCalendar`` snapshot. It is reloaded
    from the database at most every ``GRIDGOV["CALENDAR_CACHE_SECONDS"]`` seconds
    (default 1 s; 0 reloads on every call), and immediately in this process when a
    calendar row is saved or deleted through the ORM (signals) or through the functions
    of this module. The database stays the only truth: another process (an admin edit on
    another app server) is seen within that interval. Reloading reads about 30 rows per
    year (≈ 800 rows for 2004–2026), well under a millisecond or two.
    Code that changes rows with ``QuerySet.update()``/raw SQL, or tests that roll a
    transaction back after changing the calendar, call ``invalidate_calendar_cache()``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .choices import DayKind

PACKAGE_SOURCE_PREFIX = "chinese-calendar"
DEFAULT_CACHE_SECONDS = 1.0
WORKING_TIME_ZONE = "Asia/Shanghai"

# Chinese names of the holidays as the chinese-calendar package spells them in English.
_HOLIDAY_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class WorkingCalendar:
    """An immutable snapshot of the official calendar."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    published_years: frozenset[int] = frozenset()
    known_years: frozenset[int] = frozenset()
    names: Mapping[dt.date, str] = field(default_factory=dict)

    def is_working_day(self, day: dt.date) -> bool:
        """Monday–Friday unless a statutory holiday; a make-up working day (调休) works."""
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() < 5

    def is_published(self, year: int) -> bool:
        return year in self.published_years

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        for _ in range(3700):  # ten years: no official calendar has that many days off
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise RuntimeError(f"no working day within ten years after {day}: check the calendar data")

    def working_days_between(self, first: dt.date, last: dt.date) -> int:
        """Working days in [first, last] (both included)."""
        count, day = 0, first
        while day <= last:
            if self.is_working_day(day):
                count += 1
            day += dt.timedelta(days=1)
        return count


_lock = threading.Lock()
_cached: WorkingCalendar | None = None
_checked_at = float("-inf")
# The clock the cache ages by (tests replace it).
_monotonic = time.monotonic


def _cache_seconds() -> float:
    value = getattr(settings, "GRIDGOV", {}).get("CALENDAR_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return DEFAULT_CACHE_SECONDS


def _load() -> WorkingCalendar:
    from .models import CalendarDay, CalendarYear

    try:
        # A savepoint inside a transaction, so that a missing table (before migrate)
        # does not abort the caller's transaction on PostgreSQL.
        with transaction.atomic(savepoint=True) if connection.in_atomic_block else nullcontext():
            days = list(CalendarDay.objects.order_by().values_list("date", "kind", "name"))
            years = list(CalendarYear.objects.order_by().values_list("year", "published"))
    except DatabaseError:
        # No tables yet or the database is unreachable: weekends only, never a crash.
        return WorkingCalendar()
    return WorkingCalendar(
        holidays=frozenset(d for d, k, _ in days if k == DayKind.HOLIDAY),
        workdays=frozenset(d for d, k, _ in days if k == DayKind.WORKDAY),
        published_years=frozenset(y for y, p in years if p),
        known_years=frozenset(y for y, _ in years),
        names={d: n for d, _, n in days if n},
    )


def get_calendar() -> WorkingCalendar:
    """The calendar snapshot, reloaded from the database at most once per cache interval."""
    global _cached, _checked_at
    now = _monotonic()
    cached = _cached
    if cached is not None and now - _checked_at < _cache_seconds():
        return cached
    with _lock:
        if _cached is not None and _monotonic() - _checked_at < _cache_seconds():
            return _cached
        fresh = _load()
        _cached, _checked_at = fresh, _monotonic()
        return fresh


def invalidate_calendar_cache(*args, **kwargs) -> None:
    """Forget the snapshot; the next ``get_calendar()`` reads the database. Usable as a
    signal receiver."""
    global _cached, _checked_at
    with _lock:
        _cached, _checked_at = None, float("-inf")


def connect_signals() -> None:
    """Invalidate this process's cache whenever a calendar row is saved or deleted."""
    from django.db.models.signals import post_delete, post_save

    from .models import CalendarDay, CalendarYear

    for model in (CalendarDay, CalendarYear):
        for signal in (post_save, post_delete):
            signal.connect(invalidate_calendar_cache, sender=model, dispatch_uid=f"gridgov-calendar-{signal}-{model.__name__}")


def is_working_day(day: dt.date) -> bool:
    return get_calendar().is_working_day(day)


def local_today() -> dt.date:
    return timezone.now().astimezone(_zone()).date()


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(getattr(settings, "GRIDGOV", {}).get("WORKING_TIME_ZONE", WORKING_TIME_ZONE))


def unpublished_years(today: dt.date | None = None) -> list[int]:
    """The current and next year, those of them whose official schedule is not entered."""
    today = today or local_today()
    cal = get_calendar()
    return [y for y in (today.year, today.year + 1) if not cal.is_published(y)]


def calendar_warning_message(years: Iterable[int]) -> str:
    years = sorted(set(years))
    joined = "、".join(f"{y} 年" for y in years)
    return (
        f"{joined}的官方节假日安排尚未录入工作日历：这些年份暂按周一至周五工作、周末休息计算时限，"
        f"不含法定节假日和调休。国务院办公厅公布放假安排后，请在“工作日历年度”中录入。"
    )


# --------------------------------------------------------------------------- seeding


def package_years() -> range:
    """The years the installed chinese-calendar package has data for."""
    import chinese_calendar

    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return range(min(years), max(years) + 1)


def package_schedule(year: int) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """(holidays, workdays) of a year from the chinese-calendar package, as {date: 中文名}.
    Raises ``LookupError`` for a year the package does not cover."""
    import chinese_calendar

    if year not in package_years():
        raise LookupError(f"chinese-calendar {chinese_calendar.__version__} has no schedule for {year}")

    def zh(english: str) -> str:
        return _HOLIDAY_ZH.get(english, english)[:40]

    holidays = {d: zh(n) for d, n in chinese_calendar.holidays.items() if d.year == year}
    workdays = {d: zh(n) for d, n in chinese_calendar.workdays.items() if d.year == year}
    return holidays, workdays


def _package_source() -> str:
    import chinese_calendar

    return f"{PACKAGE_SOURCE_PREFIX} {chinese_calendar.__version__}"


def _coerce_days(year: int, value, what: str) -> dict[dt.date, str]:
    """Accept {date: name}, an iterable of dates, ISO strings or (date, name) pairs."""
    if value is None:
        return {}
    items = value.items() if isinstance(value, Mapping) else value
    out: dict[dt.date, str] = {}
    for item in items:
        name = ""
        if isinstance(item, tuple | list):
            if len(item) != 2:
                raise ValidationError(f"{what}: 无法识别的条目 {item!r}")
            item, name = item
        if isinstance(item, dt.datetime):
            item = item.date()
        if isinstance(item, str):
            try:
                item = dt.date.fromisoformat(item.strip())
            except ValueError:
                raise ValidationError(f"{what}: 日期格式应为 YYYY-MM-DD，收到 {item!r}") from None
        if not isinstance(item, dt.date):
            raise ValidationError(f"{what}: 不是日期 {item!r}")
        if item.year != year:
            raise ValidationError(f"{what}: {item.isoformat()} 不在 {year} 年内")
        out[item] = str(name or "").strip()[:40]
    return out


def _replace_year_days(year: int, holidays: dict[dt.date, str], workdays: dict[dt.date, str]) -> dict:
    """Make the year's CalendarDay rows exactly ``holidays`` + ``workdays``, touching only
    rows that differ. Returns counts."""
    from .models import CalendarDay

    wanted = {d: (DayKind.HOLIDAY, n) for d, n in holidays.items()}
    wanted.update({d: (DayKind.WORKDAY, n) for d, n in workdays.items()})
    existing = {
        row.date: row
        for row in CalendarDay.objects.filter(date__gte=dt.date(year, 1, 1), date__lte=dt.date(year, 12, 31))
    }
    stale = [row.pk for d, row in existing.items() if d not in wanted]
    if stale:
        CalendarDay.objects.filter(pk__in=stale).delete()
    new, changed = [], []
    for day, (kind, name) in sorted(wanted.items()):
        row = existing.get(day)
        if row is None:
            new.append(CalendarDay(date=day, kind=kind, name=name))
        elif row.kind != kind or row.name != name:
            row.kind, row.name = kind, name
            changed.append(row)
    if new:
        CalendarDay.objects.bulk_create(new)
    if changed:
        CalendarDay.objects.bulk_update(changed, ["kind", "name"])
    return {"created": len(new), "updated": len(changed), "deleted": len(stale)}


def enter_year(
    year: int,
    holidays,
    workdays=None,
    source: str = "",
    *,
    published: bool = True,
):
    """Enter (or correct) a year's official schedule: ``holidays`` are the days off of the
    announcement (including weekend days inside a holiday period), ``workdays`` the
    make-up working days. Both may be a {date: name} mapping, an iterable of dates /
    ISO strings, or (date, name) pairs. The year's rows become exactly these, and the
    year is marked published with ``source`` (for example “国办发明电〔2026〕X号”).

    Raises ``ValidationError`` (with a Chinese message) for bad input; nothing is
    written then. Returns the ``CalendarYear``.
    """
    from .models import CalendarYear

    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationError(f"年份无效: {year!r}") from None
    if not 1900 <= year <= 2200:
        raise ValidationError(f"年份超出范围: {year}")
    hol = _coerce_days(year, holidays, "节假日")
    work = _coerce_days(year, workdays, "调休上班日")
    both = sorted(set(hol) & set(work))
    if both:
        raise ValidationError("同一天不能既是节假日又是调休上班日: " + ", ".join(d.isoformat() for d in both))
    weekday_workdays = [d for d in work if d.weekday() < 5]
    if weekday_workdays:
        raise ValidationError(
            "调休上班日应为周六或周日（周一至周五本来就是工作日）: " + ", ".join(d.isoformat() for d in sorted(weekday_workdays))
        )
    source = (source or "").strip()[:120]
    try:
        with transaction.atomic():
            counts = _replace_year_days(year, hol, work)
            cal_year, _ = CalendarYear.objects.update_or_create(
                year=year, defaults={"published": published, "source": source}
            )
    finally:
        invalidate_calendar_cache()
    cal_year.counts = counts
    return cal_year


def seed_from_chinese_calendar(years: Iterable[int] | None = None, *, force: bool = False) -> dict:
    """Copy the chinese-calendar package's schedule for ``years`` (default: all it
    covers) into the calendar tables. Idempotent: a second run changes nothing.

    A year the package does not cover gets an unpublished ``CalendarYear`` row (so that
    the admin lists it as missing) and is reported under ``"missing"``; it never raises.
    A year entered by hand (published, source not from the package) is kept unless
    ``force``. Returns {"seeded": [...], "kept": [...], "missing": [...], "created": n,
    "updated": n, "deleted": n}.
    """
    from .models import CalendarYear

    covered = package_years()
    years = sorted(set(covered if years is None else (int(y) for y in years)))
    source = _package_source()
    report = {"seeded": [], "kept": [], "missing": [], "created": 0, "updated": 0, "deleted": 0}
    try:
        with transaction.atomic():
            existing = {cy.year: cy for cy in CalendarYear.objects.filter(year__in=years)}
            for year in years:
                cy = existing.get(year)
                if year not in covered:
                    report["missing"].append(year)
                    if cy is None:
                        CalendarYear.objects.create(year=year, published=False, source="")
                    continue
                if cy is not None and cy.published and not cy.source.startswith(PACKAGE_SOURCE_PREFIX) and not force:
                    report["kept"].append(year)
                    continue
                holidays, workdays = package_schedule(year)
                counts = _replace_year_days(year, holidays, workdays)
                for key, value in counts.items():
                    report[key] += value
                if cy is None:
                    CalendarYear.objects.create(year=year, published=True, source=source)
                elif not cy.published or cy.source != source:
                    cy.published, cy.source = True, source
                    cy.save(update_fields=["published", "source"])
                report["seeded"].append(year)
    finally:
        invalidate_calendar_cache()
    return report


def ensure_calendar(today: dt.date | None = None) -> dict:
    """For the demo and the setup step: make sure the calendar holds every year the
    package covers, plus (unpublished) rows for the current and next year if the package
    stops before them. Cheap when already done."""
    today = today or local_today()
    years = set(package_years()) | {today.year, today.year + 1}
    return seed_from_chinese_calendar(sorted(years))
