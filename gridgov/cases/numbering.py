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


def next_serial(prefix: str, day: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_SQL.format(t=CaseNumberCounter._meta.db_table), [prefix, day])
        return cursor.fetchone()[0]


def format_number(prefix: str, day: date, serial: int) -> str:
    width = settings.GRIDGOV["CASE_SERIAL_WIDTH"]
    return f"{prefix}-{day:%Y%m%d}-{serial:0{width}d}"


def next_number(prefix: str, day: date) -> str:
    """Allocate the next case number for a district prefix on a (local) day."""
    return format_number(prefix, day, next_serial(prefix, day))
