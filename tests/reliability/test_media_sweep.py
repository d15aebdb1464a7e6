"""gridgov sweep-media: files without rows are deleted after the grace period; rows without
files are reported."""

import os
import time

import pytest
from django.core.management import CommandError, call_command

from gridgov.cases import services as case_services
from gridgov.cases.models import CasePhoto
from gridgov.ops import media
from tests.factories import build_world, photo


@pytest.fixture
def case(db):
    w = build_world()
    return case_services.report_case(actor=w.users["worker"], channel="patrol", title="井盖缺失", grid=w.grids[0],
                                     photos=[photo("a.jpg")])


def test_orphan_file_is_swept_after_grace(case, settings):
    orphan = settings.MEDIA_ROOT / "cases" / "2026" / "01" / "lost.jpg"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    assert media.check()["files_without_row"] == ["cases/2026/01/lost.jpg"]
    assert media.sweep(grace_seconds=3600)["deleted"] == []  # too young: may be an upload in flight
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    call_command("sweep-media".replace("-", "_"))
    assert not orphan.exists()
    assert media.check() == {"files_without_row": [], "rows_without_file": []}
    assert CasePhoto.objects.get().image.storage.exists(CasePhoto.objects.get().image.name)


def test_row_without_file_is_reported(case):
    CasePhoto.objects.get().image.storage.delete(CasePhoto.objects.get().image.name)
    with pytest.raises(CommandError, match="rows without their file"):
        call_command("sweep_media", "--grace", "0")
