"""Case numbers: `<district code>-<YYYYMMDD>-<serial>`, e.g. `350502-20261124-00017`.

The serial comes from one atomic upsert per case (INSERT … ON CONFLICT DO UPDATE …
RETURNING, on SQLite ≥ 3.35 and PostgreSQL alike): O(1), no scan of the case table, and
no daily cap — past 99,999 it simply grows a digit.
"""

from datetime import date

from django.conf import settings
from django.db import connection

from .models import CaseNumberCounter

_SQL = (
    "INSERT INTO {t} (prefix, day, last) VALUES (%s, %s, 1) "
    "ON CONFLICT (prefix, day) DO UPDATE SET last = {t}.last + 1 RETURNING last"
)
# PostgreSQL: the same upsert, whose own transaction commits without waiting for the disk
# (set_config(..., is_local => true) in the same statement; the one-row subquery is joined so
# that it is evaluated). Every report of a district on one day upserts the same row, and a
# commit that waited for its fsync would hold that row's lock meanwhile: reports would queue
# behind each other's disk flushes. It stays safe: a case that uses the serial commits
# durably afterwards, and flushing its commit flushes the WAL up to it, the counter's
# earlier commit included. A crash can lose only serials that no durable case carries.
_PG_SQL = (
    "INSERT INTO {t} (prefix, day, last) SELECT %s, %s, 1 "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed "
    "ON CONFLICT (prefix, day) DO UPDATE SET last = {t}.last + 1 RETURNING last"
)


def next_serial(prefix: str, day: date) -> int:
    table = CaseNumberCounter._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_SQL.format(t=table), [prefix, day])  # noqa: S608 (table name from the model)
            return cursor.fetchone()[0]
        # SQLite, for the same reason (its WAL is synced by the next FULL commit); inside an
        # outer transaction the setting cannot change and is left alone.
        relax = connection.vendor == "sqlite" and not connection.in_atomic_block
        if relax:
            cursor.execute("PRAGMA synchronous=NORMAL")
        try:
            cursor.execute(_SQL.format(t=table), [prefix, day])  # noqa: S608 (table name from the model)
            return cursor.fetchone()[0]
        finally:
            if relax:
                cursor.execute("PRAGMA synchronous=FULL")


def format_number(prefix: str, day: date, serial: int) -> str:
    width = settings.GRIDGOV["CASE_SERIAL_WIDTH"]
    return f"{prefix}-{day:%Y%m%d}-{serial:0{width}d}"


def next_number(prefix: str, day: date) -> str:
    """Allocate the next case number for a district prefix on a (local) day."""
    return format_number(prefix, day, next_serial(prefix, day))
