"""Data-subject requests (R24) and what remains after anonymising (R22, F11)."""

import json
import os
import random
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from gridgov.accounts.models import User
from gridgov.cases import services as cs
from gridgov.cases.models import Case, CaseFollower
from gridgov.privacy import keys
from gridgov.privacy.models import AuditRecord, SubjectKey

ROOT = Path(__file__).resolve().parents[2]


def canaries() -> tuple[str, str]:
    return "金丝雀" + uuid.uuid4().hex[:6], "139" + "".join(random.choice("0123456789") for _ in range(8))


def run(*args) -> str:
    out = StringIO()
    call_command("privacy", *args, stdout=out)
    return out.getvalue()


def report(w, name, phone, actor="worker", **kw):
    return cs.report_case(actor=w.users[actor], channel="patrol", title="路边暴露垃圾", category=w.cats["litter"],
                          grid=w.grids[kw.pop("grid", 0)], reporter_name=name, reporter_phone=phone, **kw)


def all_rows_text() -> str:
    """Every row of every table, as the database returns it (the raw dump of R20)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_report_lists_everything_about_the_person_and_is_audited(w):
    name, phone = canaries()
    staff = w.users["staff"]
    staff.phone = phone
    staff.save()
    a = report(w, name, phone)
    b = report(w, "", "+86" + phone, actor="staff")
    report(w, "别人", "13912340000")
    data = json.loads(run("report", "--phone", phone))
    found = {(r["model"], r["id"]) for r in data["rows"]}
    assert found == {("accounts.user", staff.pk), ("cases.case", a.pk), ("cases.case", b.pk)}
    assert next(r for r in data["rows"] if r["id"] == a.pk and r["model"] == "cases.case")["fields"] == {
        "reporter_name": name, "reporter_phone": phone}
    record = AuditRecord.objects.get(action="pi.report")
    assert record.data == {"selector": "phone", "rows": 3} and phone not in record.object_id
    assert json.loads(run("report", "--id-number", "11010519491231002X"))["rows"] == []


@pytest.mark.parametrize("args, message", [
    (["report"], "--phone"), (["report", "--phone", "13912340000", "--id-number", "11010519491231002X"], "--phone"),
    (["report", "--phone", "12345"], "电话"), (["report", "--id-number", "110105194912310021"], "校验位"),
    (["anonymise", "--phone", "13912340000"], "--yes"),
])
def test_bad_requests_are_clear_errors(w, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_anonymise_keeps_statistics_and_leaves_nothing_readable(w):
    name, phone = canaries()
    other_name, other_phone = canaries()
    resident = w.users["resident"]
    resident.phone = phone
    resident.save()
    a = cs.accept_case(actor=w.users["dispatcher"], case=report(w, name, phone))
    dup = report(w, name, phone)
    cs.merge_case(actor=w.users["dispatcher"], case=dup, into=a)  # the person is now also a follower
    kept = report(w, other_name, other_phone)
    backup = {row[0]: row[1] for row in Case.objects.values_list("pk", "reporter_phone")}  # "a backup" of the ciphertext
    key_ids = set(SubjectKey.objects.filter(subject__startswith="tel:").values_list("pk", flat=True))
    before = list(Case.objects.order_by("pk").values_list("pk", "status", "category_id", "grid_id", "reported_at"))
    assert name not in all_rows_text() and phone not in all_rows_text()  # R20: never plaintext at rest

    assert "anonymised 4 rows" in run("anonymise", "--phone", phone, "--reason", "本人申请", "--yes")

    assert list(Case.objects.order_by("pk").values_list("pk", "status", "category_id", "grid_id", "reported_at")) == before
    for case in Case.objects.filter(pk__in=[a.pk, dup.pk]):
        assert (case.reporter_name, case.reporter_phone, case.reporter_phone_bidx, case.pi_subject_id) == ("", "", "", None)
    assert not CaseFollower.objects.exclude(phone="").filter(case=a).exists()
    resident = User.objects.get(pk=resident.pk)
    assert not resident.is_active and resident.username.startswith("anonymised-") and resident.phone == ""
    assert Case.objects.get(pk=kept.pk).reporter_phone == other_phone  # nobody else touched
    # Crypto-shredding: the person's data key is gone, so a restored backup reads as nothing.
    shredded = SubjectKey.objects.filter(pk__in=key_ids, destroyed_at__isnull=False)
    assert shredded.count() == 1 and shredded.get().wrapped is None
    Case.objects.filter(pk=a.pk).update(reporter_phone=backup[a.pk])  # a Sealed envelope
    keys._cache.clear()
    assert Case.objects.get(pk=a.pk).reporter_phone == ""
    # F11 on the rows: 0 occurrences of the canaries anywhere in the database.
    text = all_rows_text()
    assert (text.count(name), text.count(phone)) == (0, 0)
    assert json.loads(run("report", "--phone", phone))["rows"] == []
    record = AuditRecord.objects.get(action="pi.anonymise")
    assert record.data["rows"] == 4 and record.data["keys_destroyed"] == 1 and phone not in json.dumps(record.data)


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "sqlite", reason="scans a SQLite file; PostgreSQL has its own scan")
def test_residual_scan_of_the_sqlite_files(tmp_path):
    """F11: the canaries never reach the database file or its WAL; a plaintext column's
    canary does (the control that shows the scan can find something)."""
    name, phone = canaries()
    title = "CONTROL-" + uuid.uuid4().hex
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'gg.sqlite3'}", "GRIDGOV_VAR_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "tests.privacy._residual_sqlite", name, phone, title], cwd=ROOT, env=env,
                   check=True, timeout=300)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("gg.sqlite3")]
    blob = b"".join(p.read_bytes() for p in files)
    assert blob.count(title.encode()) >= 1
    assert blob.count(name.encode()) == 0 and blob.count(phone.encode()) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's heap and WAL files")
@pytest.mark.django_db(transaction=True)
def test_residual_scan_of_postgresql_heap_and_wal():
    """F11 on PostgreSQL: after anonymising and a CHECKPOINT, the heap files of the tables
    that held the person and the recent WAL hold no canary (the title control does)."""
    from tests.factories import build_world

    w = build_world()
    name, phone = canaries()
    title = "CONTROL-" + uuid.uuid4().hex
    cs.report_case(actor=w.users["worker"], channel="patrol", title=title, category=w.cats["litter"], grid=w.grids[0],
                   reporter_name=name, reporter_phone=phone)
    run("anonymise", "--phone", phone, "--yes")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("reading data files needs a superuser connection")
        cursor.execute("CHECKPOINT")
        blobs = []
        for table in ("cases_case", "cases_casefollower", "accounts_user", "privacy_auditrecord", "cases_timelineentry"):
            cursor.execute("SELECT pg_read_binary_file(pg_relation_filepath(%s))", [table])
            blobs.append(bytes(cursor.fetchone()[0]))
        cursor.execute("SELECT name FROM pg_ls_waldir() ORDER BY modification DESC LIMIT 3")
        for (segment,) in cursor.fetchall():
            cursor.execute("SELECT pg_read_binary_file(%s)", ["pg_wal/" + segment])
            blobs.append(bytes(cursor.fetchone()[0]))
    blob = b"".join(blobs)
    assert blob.count(title.encode()) >= 1
    assert blob.count(name.encode()) == 0 and blob.count(phone.encode()) == 0
