"""System checks of the SLA clock.

gridgov.E101  settings.GRIDGOV["WORKING_HOURS"] is malformed (static check, always runs).
gridgov.W101  the official holiday schedule of the current or next year is not entered
              (a database check: it runs with ``migrate`` and ``gridgov check --database
              default``; the admin changelist of the calendar shows the same warning).
"""

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError


@register("gridgov")
def check_working_hours(app_configs=None, **kwargs):
    from .sla import working_periods, working_zone

    errors = []
    try:
        working_periods()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), hint='Example: [("08:30", "12:00"), ("14:00", "17:30")]', id="gridgov.E101"))
    try:
        working_zone()
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError
        errors.append(Error(f'GRIDGOV["WORKING_TIME_ZONE"] is not a time zone: {exc}', id="gridgov.E102"))
    return errors


@register(Tags.database, "gridgov")
def check_calendar_published(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases:
        return []
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from .calendar import calendar_warning_message, unpublished_years

    try:
        # Before the calendar's seeding migration has run (migrate checks first), every
        # year looks unpublished: say nothing until the seed had its chance.
        if ("cases", "0002_seed_calendar") not in MigrationRecorder(connection).applied_migrations():
            return []
        missing = unpublished_years()
    except DatabaseError:
        return []  # tables not migrated yet: migrate runs the checks before migrating
    if not missing:
        return []
    return [
        Warning(
            calendar_warning_message(missing),
            hint="gridgov seed-calendar (chinese-calendar 覆盖的年份) 或在管理后台“工作日历年度”录入官方安排。",
            obj="cases.CalendarYear",
            id="gridgov.W101",
        )
    ]
