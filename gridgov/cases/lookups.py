"""Categories by code from a per-process copy checked against the catalog version.

Intake looks a category up on every report; the tree changes a few times a year. The copy
is rebuilt whenever `SpatialIndexState.catalog_version` moved (saving or deleting a
category bumps it, see `connect_signals`), and that version is read with the places
version in one query per request, so an edit is seen by every process on its next request.
"""

from __future__ import annotations

import threading

from django.db.models.signals import post_delete, post_save

from gridgov.places import versions

from .models import Category

_lock = threading.Lock()
_cache: tuple[int, dict[str, tuple]] | None = None
_FIELDS = tuple(f.attname for f in Category._meta.concrete_fields)


def category_by_code(code: str) -> Category | None:
    """A fresh `Category` instance for this code (callers may change it), or None."""
    global _cache
    version = versions.current().catalog
    cache = _cache
    if cache is None or cache[0] != version:
        with _lock:
            rows = Category.objects.values_list(*_FIELDS)
            code_at = _FIELDS.index("code")
            cache = _cache = (version, {row[code_at]: row for row in rows})
    row = cache[1].get(code)
    return Category.from_db("default", _FIELDS, row) if row is not None else None


def _catalog_changed(sender, raw=False, **kwargs) -> None:
    if not raw:
        versions.bump("catalog_version")


def connect_signals() -> None:
    post_save.connect(_catalog_changed, sender=Category, dispatch_uid="cases-catalog-version-save")
    post_delete.connect(_catalog_changed, sender=Category, dispatch_uid="cases-catalog-version-delete")
