"""Reconciling uploaded files with the rows that name them (照片文件核对).

A photo's file is written before its row commits (Django's storage saves during the
transaction). If the process dies between the two, or the transaction rolls back (a lost
idempotency race, a failed audit write), the file stays without a row. That file is
unreachable — no URL names it — but it is personal data on disk, so the sweep deletes it
once it is older than a grace period (so uploads in flight are never touched). A row whose
file is missing is the serious case: it is reported, never "fixed" silently.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models


def referenced_files() -> set[str]:
    """Every file name stored in any FileField/ImageField of any model."""
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                names.update(n for n in model._base_manager.exclude(**{field.attname: ""})
                             .values_list(field.attname, flat=True).iterator() if n)
    return names


def check(root: Path | None = None) -> dict:
    """{"files_without_row": [...], "rows_without_file": [...]} under MEDIA_ROOT."""
    root = Path(root or settings.MEDIA_ROOT)
    referenced = referenced_files()
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    return {"files_without_row": sorted(on_disk - referenced), "rows_without_file": sorted(referenced - on_disk)}


def sweep(*, grace_seconds: float = 3600, root: Path | None = None, dry_run: bool = False) -> dict:
    """Delete files without a row older than `grace_seconds`; report rows without a file."""
    root = Path(root or settings.MEDIA_ROOT)
    found = check(root)
    cutoff, deleted = time.time() - grace_seconds, []
    for name in found["files_without_row"]:
        path = root / name
        if path.stat().st_mtime <= cutoff:
            if not dry_run:
                path.unlink(missing_ok=True)
            deleted.append(name)
    return {**found, "deleted": deleted}
