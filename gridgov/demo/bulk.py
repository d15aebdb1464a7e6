"""Fast inserts for the generator's big tables (users, grids, departments).

``QuerySet.bulk_create`` compiles SQL for every value of every row; for tens of
thousands of rows that is most of the demo's set-up time. ``insert()`` prepares each
value exactly as ``bulk_create`` does (``pre_save`` then ``get_db_prep_save``) and sends
one parameterised statement with ``executemany``. No signals are sent (as with
``bulk_create``); primary keys are read back by a natural key.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Max


def insert(model, objects: list, *, key: str, batch_size: int = 2000) -> None:
    """Insert ``objects`` of ``model`` and set their primary keys, found by the unique
    column ``key`` (e.g. "code", "username")."""
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # identifiers quoted, values bound  # noqa: S608  # nosec B608
        quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    )
    manager = model._default_manager
    before = manager.aggregate(last=Max("pk"))["last"] or 0
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objects]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            cursor.executemany(sql, rows[start:start + batch_size])
    ids = dict(manager.filter(pk__gt=before).values_list(key, "pk"))
    for obj in objects:
        obj.pk = ids[getattr(obj, key)]
        obj._state.adding = False
        obj._state.db = connection.alias


def update(model, objects: list, fields: list[str], *, batch_size: int = 2000) -> None:
    """UPDATE ``fields`` of ``objects`` (which have primary keys) with one statement."""
    if not objects:
        return
    columns = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # identifiers quoted, values bound  # noqa: S608  # nosec B608
        quote(model._meta.db_table), ", ".join(f"{quote(f.column)} = %s" for f in columns), quote(model._meta.pk.column)
    )
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk] for obj in objects]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            cursor.executemany(sql, rows[start:start + batch_size])
