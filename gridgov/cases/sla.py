"""The SLA clock: time limits counted in working time on the official calendar, and the
sweep that turns open cases to "warning" and "overdue".

Working time
    A *working day* is Monday–Friday unless it is a statutory holiday, or a make-up
    working day (调休) on a weekend (``gridgov.cases.calendar``). Its *working periods*
    are ``settings.GRIDGOV["WORKING_HOURS"]`` (default 08:30–12:00 and 14:00–17:30, 7 h),
    in Asia/Shanghai. A period is half-open: 12:00 is already outside the morning.
    A year whose schedule was never entered counts weekends only; nothing here raises
    for missing years.

Definitions (``add_working_time``)
    1. Zero days and zero hours return ``start`` unchanged.
    2. Otherwise the clock starts at ``start`` if that lies inside a working period, else
       at the start of the next working period (a case reported on Saturday, at lunch or
       at night starts counting at the next 08:30/14:00 on a working day).
    3. ``days=N``: the deadline is the same clock time N working days later — from clock
       time T on working day D to clock time T on the N-th working day after D. Since all
       working days have the same periods, that is exactly N × (daily working hours) of
       working time.
    4. ``hours=H`` (after the days): H hours counted inside working periods only. A
       deadline that ends exactly at the end of a period is that end (17:30 today, not
       08:30 tomorrow).
    Example: Friday 2026-02-13 10:00 + 3 working days → Saturday 02-14 (make-up day),
    Tuesday 02-24, Wednesday 02-25 (春节 02-15…02-23 off) → 2026-02-25 10:00.

Results are aware datetimes in Asia/Shanghai; inputs may be in any zone but must be aware.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.utils import timezone

from . import calendar as official_calendar
from .choices import LimitUnit, SlaState

logger = logging.getLogger(__name__)

DEFAULT_WORKING_HOURS = (("08:30", "12:00"), ("14:00", "17:30"))
DEFAULT_WARNING_SHARE = 0.8
# The sweep reads and updates ids in chunks this size (SQLite's bound-parameter limit).
CHUNK = 2000

_ZERO = dt.timedelta(0)


# --------------------------------------------------------------------------- configuration


def _gridgov() -> dict:
    return getattr(settings, "GRIDGOV", {}) or {}


def _parse_clock(value) -> dt.timedelta:
    if isinstance(value, dt.time):
        return dt.timedelta(hours=value.hour, minutes=value.minute, seconds=value.second)
    text = str(value).strip()
    try:
        parsed = dt.time.fromisoformat(text)
    except ValueError:
        if text in {"24:00", "24:00:00"}:
            return dt.timedelta(hours=24)
        raise
    return dt.timedelta(hours=parsed.hour, minutes=parsed.minute, seconds=parsed.second)


@lru_cache(maxsize=16)
def _parse_periods(raw: tuple) -> tuple[tuple[dt.timedelta, dt.timedelta], ...]:
    periods = []
    for item in raw:
        try:
            start, end = item
            periods.append((_parse_clock(start), _parse_clock(end)))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f'GRIDGOV["WORKING_HOURS"]: each period must be ("HH:MM", "HH:MM"), got {item!r}'
            ) from None
    if not periods:
        raise ImproperlyConfigured('GRIDGOV["WORKING_HOURS"] must list at least one period')
    previous_end = _ZERO
    for start, end in periods:
        if not start < end or start < previous_end or end > dt.timedelta(hours=24):
            raise ImproperlyConfigured(
                'GRIDGOV["WORKING_HOURS"]: periods must be increasing, non-overlapping and within one day'
            )
        previous_end = end
    return tuple(periods)


def working_periods() -> tuple[tuple[dt.timedelta, dt.timedelta], ...]:
    """The working periods of a working day as offsets from midnight (validated)."""
    raw = _gridgov().get("WORKING_HOURS") or DEFAULT_WORKING_HOURS
    try:
        key = tuple(tuple(p) if isinstance(p, list | tuple) else p for p in raw)
    except TypeError:
        raise ImproperlyConfigured('GRIDGOV["WORKING_HOURS"] must be a list of ("HH:MM", "HH:MM") pairs') from None
    return _parse_periods(key)


def working_zone() -> ZoneInfo:
    return ZoneInfo(_gridgov().get("WORKING_TIME_ZONE", official_calendar.WORKING_TIME_ZONE))


def daily_working_time() -> dt.timedelta:
    return sum((end - start for start, end in working_periods()), _ZERO)


def default_warning_share() -> float:
    return float(_gridgov().get("SLA_WARNING_SHARE", DEFAULT_WARNING_SHARE))


# --------------------------------------------------------------------------- working time


def _local(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Aware → naive wall-clock time in the working zone."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: the SLA clock needs timezone-aware datetimes")
    return value.astimezone(zone).replace(tzinfo=None)


def _aware(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return local.replace(tzinfo=zone)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _normalize(local: dt.datetime, cal, periods) -> dt.datetime:
    """``local`` if inside a working period, else the start of the next working period."""
    day = local.date()
    if cal.is_working_day(day):
        offset = local - _midnight(day)
        for start, end in periods:
            if offset < start:
                return _midnight(day) + start
            if offset < end:
                return local
    return _midnight(cal.next_working_day(day)) + periods[0][0]


def _add_days(local: dt.datetime, days: int, cal) -> dt.datetime:
    """Same clock time ``days`` working days later (``local`` is inside a period)."""
    day = local.date()
    for _ in range(days):
        day = cal.next_working_day(day)
    return _midnight(day) + (local - _midnight(local.date()))


def _add_duration(local: dt.datetime, remaining: dt.timedelta, cal, periods) -> dt.datetime:
    """``remaining`` working time after ``local`` (which is inside a working period)."""
    day_length = sum((end - start for start, end in periods), _ZERO)
    day = local.date()
    offset = local - _midnight(day)
    while True:
        if cal.is_working_day(day):
            if offset <= periods[0][0] and remaining > day_length:
                # A whole working day fits: skip it without walking its periods.
                remaining -= day_length
            else:
                for start, end in periods:
                    if offset >= end:
                        continue
                    begin = max(offset, start)
                    available = end - begin
                    if remaining <= available:
                        return _midnight(day) + begin + remaining
                    remaining -= available
        day = cal.next_working_day(day)
        offset = _ZERO


def add_working_time(start: dt.datetime, *, days: int = 0, hours: float = 0) -> dt.datetime:
    """``start`` plus ``days`` working days and then ``hours`` working hours.

    See the module docstring for the exact definition: the clock starts at ``start`` or,
    if that is outside working hours, at the next working period's start; N working days
    land on the same clock time N working days later; hours are counted inside working
    periods only, and a deadline at the end of a period stays there. Zero days and hours
    return ``start`` itself. Aware datetimes in; an aware datetime in Asia/Shanghai out.
    Raises ``ValueError`` for negative amounts or a naive ``start``.
    """
    if isinstance(days, bool) or int(days) != days or days < 0:
        raise ValueError(f"days must be a whole number ≥ 0, got {days!r}")
    hours_delta = dt.timedelta(hours=float(hours))
    if hours_delta < _ZERO:
        raise ValueError(f"hours must be ≥ 0, got {hours!r}")
    zone = working_zone()
    local = _local(start, zone)
    if not days and not hours_delta:
        return start.astimezone(zone)
    return _aware(_add_local(local, int(days), hours_delta), zone)


def _add_local(local: dt.datetime, days: int, duration: dt.timedelta) -> dt.datetime:
    cal = official_calendar.get_calendar()
    periods = working_periods()
    current = _normalize(local, cal, periods)
    if days:
        current = _add_days(current, days, cal)
    if duration > _ZERO:
        current = _add_duration(current, duration, cal, periods)
    return current


def working_time_between(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """The working time inside [a, b): the overlap with working periods of working days.
    Negative if ``b`` is before ``a``."""
    zone = working_zone()
    la, lb = _local(a, zone), _local(b, zone)
    if lb < la:
        return -working_time_between(b, a)
    cal = official_calendar.get_calendar()
    periods = working_periods()
    day_length = sum((end - start for start, end in periods), _ZERO)
    total = _ZERO
    day, last = la.date(), lb.date()
    while day <= last:
        if cal.is_working_day(day):
            midnight = _midnight(day)
            if la <= midnight + periods[0][0] and midnight + periods[-1][1] <= lb:
                total += day_length
            else:
                for start, end in periods:
                    begin, finish = max(la, midnight + start), min(lb, midnight + end)
                    if finish > begin:
                        total += finish - begin
        day += dt.timedelta(days=1)
    return total


def _check_amount(amount) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0 or amount != amount:
        raise ValueError(f"time limit must be a number ≥ 0, got {amount!r}")


def deadline_for(start: dt.datetime, amount: int, unit: str) -> dt.datetime:
    """The deadline of a time limit ``amount`` ``unit`` (a ``LimitUnit`` value) from ``start``:
    working days and working hours on the official calendar, calendar hours as a plain
    ``timedelta``."""
    _check_amount(amount)
    if unit == LimitUnit.WORKING_DAYS:
        if int(amount) != amount:
            # A fractional day limit: whole days, then the fraction of a working day.
            whole = int(amount)
            return add_working_time(
                start, days=whole, hours=(amount - whole) * daily_working_time().total_seconds() / 3600
            )
        return add_working_time(start, days=int(amount))
    if unit == LimitUnit.WORKING_HOURS:
        return add_working_time(start, hours=amount)
    if unit == LimitUnit.CALENDAR_HOURS:
        zone = working_zone()
        _local(start, zone)  # rejects naive datetimes
        return (start + dt.timedelta(hours=amount)).astimezone(zone)
    raise ValueError(f"unknown time-limit unit {unit!r}; expected one of {', '.join(LimitUnit.values)}")


def compute_deadlines(
    start: dt.datetime, amount: int, unit: str, *, warning_share: float | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """(due_at, warn_at) for a time limit. ``warn_at`` is at ``warning_share`` (default
    ``GRIDGOV["SLA_WARNING_SHARE"]``, 0.8) of the working time between ``start`` and
    ``due_at`` — counted forward from ``start`` in working time — or, for calendar hours,
    of the plain duration."""
    share = default_warning_share() if warning_share is None else float(warning_share)
    if not 0 <= share <= 1:
        raise ValueError(f"warning_share must be between 0 and 1, got {share!r}")
    due = deadline_for(start, amount, unit)
    if unit == LimitUnit.CALENDAR_HOURS:
        warn = (start + (due - start) * share).astimezone(due.tzinfo)
    else:
        total = working_time_between(start, due)
        part = total * share
        if part <= _ZERO:
            warn = start.astimezone(due.tzinfo)
        else:
            zone = working_zone()
            warn = _aware(_add_local(_local(start, zone), 0, part), zone)
    return due, warn


# --------------------------------------------------------------------------- sweep and list


def overdue_cases(queryset=None, *, now: dt.datetime | None = None):
    """Open cases whose deadline has passed, oldest deadline first. Backed by the
    ``(is_open, due_at)`` index: a page reads only that range. For the number of them
    use ``overdue_count()``, which keeps PostgreSQL on the index too."""
    from .models import Case

    qs = Case.objects.all() if queryset is None else queryset
    return qs.filter(is_open=True, due_at__lte=now or timezone.now()).order_by("due_at", "id")


def overdue_count(queryset=None, *, now: dt.datetime | None = None) -> int:
    """``overdue_cases(queryset, now=now).count()``, read from the ``(is_open, due_at)``
    index on every database. (A plain ``.count()`` on PostgreSQL may scan every open
    case instead — about 0.5 s at 100 000 open cases when the visibility map is not
    current — because the planner over-estimates how many open cases are overdue.)"""
    qs = overdue_cases(queryset, now=now).order_by()
    using = connections[qs.db]
    with transaction.atomic(using=qs.db), _deadline_index_scans(using):
        return qs.count()


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextmanager
def _deadline_index_scans(connection):
    """On PostgreSQL, make the planner read the deadline indexes for the sweep's range
    queries. It over-estimates ``is_open AND due_at <= now`` badly (closed cases, all
    with past deadlines, dominate the column statistics) and picks a bitmap scan over
    every open case instead: ~0.6 s instead of ~20 ms on 2 M cases. The settings are
    transaction-local and put back afterwards."""
    if connection.vendor != "postgresql":
        yield
        return
    names = ("enable_seqscan", "enable_bitmapscan", "jit")
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
        previous = cursor.fetchone()
        cursor.execute("SELECT " + ", ".join(f"set_config('{n}', 'off', true)" for n in names))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                [x for pair in zip(names, previous) for x in pair],
            )


def _transition(now: dt.datetime, *, field: str, to_state: str, exclude: list[str]) -> list[tuple[int, str, bool]]:
    """Move open cases with ``field <= now`` and a state not in ``exclude`` to ``to_state``.
    Returns (id, previous state, escalate_when_overdue) of the rows changed."""
    from .models import Case

    base = Case.objects.filter(is_open=True, **{f"{field}__lte": now}).exclude(sla_state__in=exclude)
    with _deadline_index_scans(connection):
        rows = list(
            base.select_for_update(of=("self",))
            .order_by()
            .values_list("id", "sla_state", "category__escalate_when_overdue")
        )
    qn = connection.ops.quote_name
    sql = (
        f"UPDATE {qn(Case._meta.db_table)} SET {qn('sla_state')} = %s, {qn('updated_at')} = %s "  # identifiers quoted, values bound  # noqa: S608  # nosec B608
        f"WHERE {qn(Case._meta.pk.column)} "
    )
    stamp = Case._meta.get_field("updated_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        for chunk in _chunks([r[0] for r in rows]):
            where, params = _in_ids(chunk)
            cursor.execute(sql + where, [str(to_state), stamp, *params])
    return rows


def _in_ids(ids: list[int]) -> tuple[str, list]:
    """``IN (…)`` for a chunk of ids; ``= ANY(array)`` on PostgreSQL (one parameter, which
    spares psycopg parsing thousands of placeholders)."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    return "IN (" + ", ".join(["%s"] * len(ids)) + ")", list(ids)


def _insert_timeline(now: dt.datetime, action: str, note: str, to_state: str, rows) -> None:
    """One private timeline entry per case, written with INSERT … SELECT in chunks
    (``bulk_create`` spends ~0.1 ms per object compiling SQL: 1 s per 10 000 cases).
    Columns come from the model, so a new field with a default is filled in too."""
    from .models import Case, TimelineEntry

    by_previous: dict[str, list[int]] = {}
    for case_id, previous, _ in rows:
        by_previous.setdefault(previous, []).append(case_id)
    if not by_previous:
        return
    qn = connection.ops.quote_name
    fields = [f for f in TimelineEntry._meta.concrete_fields if not f.primary_key]
    for previous, ids in by_previous.items():
        values = {
            "at": now, "actor": None, "action": action, "from_status": "", "to_status": "",
            "note": note, "data": {"from": previous, "to": str(to_state)}, "public": False,
        }
        columns, exprs, params = [], [], []
        for f in fields:
            columns.append(qn(f.column))
            if f.name == "case":
                exprs.append(qn(Case._meta.pk.column))
                continue
            value = values[f.name] if f.name in values else f.get_default()
            if value is None:
                exprs.append("NULL")
                continue
            prepared = f.get_db_prep_save(value, connection)
            if f.get_internal_type() == "JSONField" and connection.vendor == "postgresql":
                exprs.append("CAST(%s AS jsonb)")
            else:
                exprs.append("%s")
            params.append(prepared)
        sql = (
            f"INSERT INTO {qn(TimelineEntry._meta.db_table)} ({', '.join(columns)}) "  # identifiers quoted, values bound  # noqa: S608  # nosec B608
            f"SELECT {', '.join(exprs)} FROM {qn(Case._meta.db_table)} WHERE {qn(Case._meta.pk.column)} "
        )
        with connection.cursor() as cursor:
            for chunk in _chunks(sorted(ids)):
                where, id_params = _in_ids(chunk)
                cursor.execute(sql + where, params + id_params)


def sweep(now: dt.datetime | None = None) -> dict:
    """Turn open cases with ``warn_at <= now`` to "warning" and with ``due_at <= now`` to
    "overdue", in bulk UPDATEs on the ``(is_open, warn_at)``/``(is_open, due_at)``
    indexes; write one private timeline entry per changed case and one audit record for
    the sweep, in one transaction. Then escalate each newly overdue case whose category
    has ``escalate_when_overdue`` (each escalation on its own; one failing does not undo
    the sweep). Idempotent: a second run at the same ``now`` changes nothing.

    Returns counts: {"now", "warning", "overdue", "escalated", "escalation_refused" (the
    domain said no, e.g. already at the top level), "escalation_failed" (an unexpected
    error, logged), "escalation_unavailable" (escalate_case missing)}.
    """
    from gridgov.privacy.services import audit

    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("sweep(now=...) needs an aware datetime")
    with transaction.atomic():
        # Overdue first: a case past both marks goes straight to overdue.
        overdue = _transition(now, field="due_at", to_state=SlaState.OVERDUE, exclude=[SlaState.OVERDUE])
        warning = _transition(
            now, field="warn_at", to_state=SlaState.WARNING, exclude=[SlaState.WARNING, SlaState.OVERDUE]
        )
        _insert_timeline(now, "sla_overdue", "已超过处置时限", SlaState.OVERDUE, overdue)
        _insert_timeline(now, "sla_warning", "即将超过处置时限", SlaState.WARNING, warning)
        to_escalate = [case_id for case_id, _, escalate in overdue if escalate]
        summary = {
            "now": now.isoformat(),
            "warning": len(warning),
            "overdue": len(overdue),
            "to_escalate": len(to_escalate),
        }
        audit(actor=None, action="sla.sweep", object_type="cases.case", object_id="*", data=summary)

    result = {
        "now": summary["now"],
        "warning": len(warning),
        "overdue": len(overdue),
        "escalated": 0,
        "escalation_refused": 0,
        "escalation_failed": 0,
        "escalation_unavailable": False,
    }
    if to_escalate:
        _escalate(to_escalate, result)
    return result


def _escalate(case_ids: list[int], result: dict) -> None:
    from .models import Case

    try:
        from gridgov.cases.services import escalate_case
    except ImportError:
        logger.error("SLA sweep: gridgov.cases.services.escalate_case is missing; %d overdue cases not escalated", len(case_ids))
        result["escalation_unavailable"] = True
        return
    from gridgov.errors import DomainError

    for case in Case.objects.filter(pk__in=case_ids).select_related("category").order_by("due_at", "id").iterator():
        try:
            with transaction.atomic():
                escalate_case(actor=None, case=case, reason="超期自动上报")
        except DomainError as exc:  # e.g. already at the top level, or a state that cannot escalate
            logger.info("SLA sweep: case %s not escalated: %s", case.pk, exc)
            result["escalation_refused"] += 1
        except Exception:
            logger.exception("SLA sweep: escalating case %s failed", case.pk)
            result["escalation_failed"] += 1
        else:
            result["escalated"] += 1
