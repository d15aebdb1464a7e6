"""gridgov sla --start 2026-02-13T10:00+08:00 (--working-days N | --working-hours H | --calendar-hours H)

Prints the deadline as ISO-8601 in Asia/Shanghai. With --warning it also prints the
warning time on a second line. A start without an offset is read as Asia/Shanghai; no
--start means now.
"""

import datetime as dt
import math

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gridgov.cases import sla
from gridgov.cases.calendar import calendar_warning_message, get_calendar
from gridgov.cases.choices import LimitUnit

_OPTIONS = {
    "working_days": LimitUnit.WORKING_DAYS,
    "working_hours": LimitUnit.WORKING_HOURS,
    "calendar_hours": LimitUnit.CALENDAR_HOURS,
}


class Command(BaseCommand):
    help = "Compute a deadline on the official working calendar."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="ISO-8601 start, e.g. 2026-02-13T10:00+08:00 (default: now)")
        parser.add_argument("--working-days", help="whole working days")
        parser.add_argument("--working-hours", help="working hours (may be fractional)")
        parser.add_argument("--calendar-hours", help="plain hours (may be fractional)")
        parser.add_argument("--warning", action="store_true", help="also print the warning time")

    def handle(self, *args, start=None, warning=False, **options):
        given = {name: options.get(name) for name in _OPTIONS if options.get(name) not in (None, "")}
        if len(given) != 1:
            raise CommandError(
                "give exactly one of --working-days, --working-hours, --calendar-hours"
                + (f" (got {len(given)})" if given else "")
            )
        (name, raw), = given.items()
        unit = _OPTIONS[name]
        amount = self._amount(name, raw, whole=unit == LimitUnit.WORKING_DAYS)
        begin = self._start(start)
        try:
            due, warn_at = sla.compute_deadlines(begin, amount, unit)
        except (ValueError, OverflowError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(due.isoformat())
        if warning:
            self.stdout.write(warn_at.isoformat())
        if unit != LimitUnit.CALENDAR_HOURS:
            cal = get_calendar()
            years = {y for y in range(begin.astimezone(due.tzinfo).year, due.year + 1) if not cal.is_published(y)}
            if years:
                self.stderr.write(self.style.WARNING(calendar_warning_message(years)))

    @staticmethod
    def _amount(name: str, raw: str, *, whole: bool):
        option = "--" + name.replace("_", "-")
        try:
            value = int(raw) if whole else float(raw)
        except (TypeError, ValueError):
            kind = "a whole number" if whole else "a number"
            raise CommandError(f"{option} must be {kind}, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise CommandError(f"{option} must be ≥ 0, got {raw!r}")
        if value > 100_000:
            raise CommandError(f"{option} is too large: {raw!r}")
        return value

    @staticmethod
    def _start(raw: str | None) -> dt.datetime:
        if raw is None:
            return timezone.now()
        try:
            value = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            raise CommandError(f"--start is not an ISO-8601 date-time: {raw!r} (example: 2026-02-13T10:00+08:00)") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=sla.working_zone())
        return value
