"""Versions of the reference data that processes cache (grids and regions, the category
tree): one row, read with one query, at most once per HTTP request.

Every process keeps in-memory copies of data that changes rarely and is read on every
request (the spatial index, the categories). Each copy remembers the version it was built
at and is rebuilt when the database's version differs, so an edit made in one process is
seen by every other on its next request: there is no process-local truth. Within one
request the versions are read once and remembered; a bump made by the request itself
forgets them, so it sees its own change. Outside requests (commands, the worker, tests)
they are read on every call.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import NamedTuple

from django.core.signals import request_finished, request_started
from django.db.models import F
from django.utils import timezone


class Versions(NamedTuple):
    places: tuple  # (version, changed_at): what the spatial index was built from
    catalog: int


_UNSET = object()
_in_request: ContextVar[bool] = ContextVar("reference_versions_in_request", default=False)
_memo: ContextVar[object] = ContextVar("reference_versions_memo", default=_UNSET)


def current() -> Versions:
    """The database's reference-data versions (one cheap query, once per request)."""
    memo = _memo.get()
    if memo is not _UNSET:
        return memo  # type: ignore[return-value]
    from .models import SpatialIndexState

    row = SpatialIndexState.objects.order_by("-version").values_list("version", "changed_at", "catalog_version").first()
    versions = Versions((row[0], row[1]), row[2]) if row else Versions((0, None), 0)
    if _in_request.get():
        _memo.set(versions)
    return versions


def forget() -> None:
    """Read the versions again on next use (after this process bumped one)."""
    _memo.set(_UNSET)


def bump(field: str = "version") -> int:
    """Move a version on (`version` for places, `catalog_version` for categories)."""
    from .models import SpatialIndexState

    # The catalog's version is a fresh random number, not a count: a count reached again
    # after a rolled-back bump could name a different content than a process cached.
    # (The places version is a count, but paired with the time of the change.)
    values = {field: F(field) + 1} if field == "version" else {field: secrets.randbits(62)}
    if field == "version":
        values["changed_at"] = timezone.now()
    if not SpatialIndexState.objects.update(**values):
        _, created = SpatialIndexState.objects.get_or_create(pk=1, defaults={field: 1 if field == "version" else values[field]})
        if not created:
            SpatialIndexState.objects.update(**values)
    forget()
    return SpatialIndexState.objects.order_by("-version").values_list(field, flat=True).first()


def _request_started(**kwargs) -> None:
    _in_request.set(True)
    _memo.set(_UNSET)


def _request_finished(**kwargs) -> None:
    _in_request.set(False)
    _memo.set(_UNSET)


def connect() -> None:
    request_started.connect(_request_started, dispatch_uid="places-versions-started")
    request_finished.connect(_request_finished, dispatch_uid="places-versions-finished")
