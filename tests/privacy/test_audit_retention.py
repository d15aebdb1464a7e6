"""R15/R16: append-only on both databases, `audit grant` on PostgreSQL, and the retention
purge as the one controlled way to delete (time travelled)."""

import datetime as dt
import os
import subprocess
import sys
import uuid
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from gridgov.errors import DomainError
from gridgov.privacy import chain
from gridgov.privacy import services as privacy_services
from gridgov.privacy.models import AuditCheckpoint, AuditRecord
from gridgov.privacy.services import audit, purge
from tests.factories import make_user
from tests.privacy.conftest import raw

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _at(days_ago: float, n: int = 1, chain_no: int = 0, action: str = "test.old") -> list[AuditRecord]:
    chain._local.chain = (os.getpid(), chain_no)
    with mock.patch.object(privacy_services.timezone, "now", return_value=NOW - dt.timedelta(days=days_ago)):
        out = [audit(actor=None, action=action, object_type="t", object_id=f"{days_ago}-{i}") for i in range(n)]
    chain._local.chain = None
    return out


def test_purge_deletes_only_records_past_retention_and_is_audited():
    old0 = _at(400, 3, 0) + _at(200, 2, 0)
    young0 = _at(179, 2, 0) + _at(1, 1, 0)
    old1 = _at(181, 4, 1)
    young1 = _at(10, 1, 1)
    auditor = make_user("aud", "auditor")
    summary = purge(actor=auditor)
    assert summary["deleted"] == len(old0) + len(old1)
    remaining = set(AuditRecord.objects.exclude(action="audit.purge").values_list("pk", flat=True))
    assert remaining == {r.pk for r in young0 + young1}
    record = AuditRecord.objects.get(action="audit.purge")
    assert record.actor_name == "aud" and record.data["deleted"] == 9
    anchors = AuditCheckpoint.objects.filter(kind="purge")
    assert {(a.chain, a.seq) for a in anchors} == {(0, 5), (1, 4)}
    assert chain.verify().ok  # the chains now start at their signed purge anchors
    _at(0, 2, 0)
    assert chain.verify().ok
    assert purge()["deleted"] == 0


def test_the_newest_record_of_a_chain_survives_however_old():
    records = _at(300, 3, 4)
    purge()
    assert list(AuditRecord.objects.filter(chain=4).values_list("pk", flat=True)) == [records[-1].pk]
    assert chain.verify().ok
    assert _at(0, 1, 4)[0].prev_hash == records[-1].hash


def test_a_deleted_chain_prefix_without_a_signed_anchor_is_found():
    from tests.privacy.conftest import triggers_bypassed

    records = _at(300, 4, 0)
    with triggers_bypassed():
        raw("DELETE FROM privacy_auditrecord WHERE id IN (%s, %s)", [records[0].pk, records[1].pk])
    (problem,) = chain.verify().problems
    assert problem.kind == "gap" and problem.record_id == records[2].pk


def test_retention_below_180_days_is_refused(monkeypatch):
    with pytest.raises(DomainError, match="180"):
        purge(days=179)
    with pytest.raises(CommandError):
        call_command("audit", "purge", "--days", "90")
    env = {**os.environ, "GRIDGOV_AUDIT_RETENTION_DAYS": "90"}
    proc = subprocess.run([sys.executable, "-c", "import gridgov.settings"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "at least 180" in proc.stderr


def test_the_database_refuses_young_deletes_even_on_the_purge_path():
    young = _at(100, 1, 0)[0]
    _at(0, 1, 0)
    far_future = NOW + dt.timedelta(days=1)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            raw("SELECT set_config('gridgov.audit_gate', %s, true)", ["purge:" + far_future.isoformat()])
        token = privacy_services.purge_gate.set(connection.ops.adapt_datetimefield_value(far_future))
        try:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                raw("DELETE FROM privacy_auditrecord WHERE id = %s", [young.pk])
        finally:
            privacy_services.purge_gate.reset(token)
    assert AuditRecord.objects.filter(pk=young.pk).exists()


def test_old_records_cannot_be_deleted_outside_the_purge():
    old = _at(365, 2, 0)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM privacy_auditrecord WHERE id = %s", [old.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditRecord.objects.filter(pk=old.pk).delete()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="TRUNCATE and roles exist on PostgreSQL only")
def test_truncate_of_a_non_empty_audit_table_is_refused():
    _at(0, 1, 0)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("TRUNCATE privacy_auditrecord")


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="TRUNCATE and roles exist on PostgreSQL only")
def test_grant_leaves_the_application_role_insert_and_select_only():
    from psycopg import errors

    role = f"gg_audit_app_{uuid.uuid4().hex[:8]}"
    record = _at(365, 2, 0)[0]
    raw(f'CREATE ROLE "{role}" NOLOGIN')  # rolled back with the test's transaction
    raw(f'GRANT ALL ON privacy_auditrecord, privacy_auditcheckpoint TO "{role}"')  # as if it had everything before
    call_command("audit", "grant", "--role", role, verbosity=0)
    raw(f'SET LOCAL ROLE "{role}"')
    try:
        for sql in ("UPDATE privacy_auditrecord SET action = 'x' WHERE id = %s",
                    "DELETE FROM privacy_auditrecord WHERE id = %s",
                    "UPDATE privacy_auditcheckpoint SET seq = 0 WHERE id = %s"):
            with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
                raw(sql, [record.pk])
            assert isinstance(excinfo.value.__cause__, errors.InsufficientPrivilege)
            assert "permission denied" in str(excinfo.value)
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            raw("TRUNCATE privacy_auditrecord")
        written = audit(actor=None, action="test.as_app_role", object_type="t", object_id="1")  # INSERT and SELECT work
        assert AuditRecord.objects.filter(pk=written.pk).exists()
    finally:
        raw("RESET ROLE")
    assert chain.verify().ok


def test_grant_needs_postgresql_and_a_real_role():
    if connection.vendor == "postgresql":
        with pytest.raises(CommandError, match="no PostgreSQL role"):
            call_command("audit", "grant", "--role", "no_such_role_here")
    else:
        with pytest.raises(CommandError, match="PostgreSQL"):
            call_command("audit", "grant", "--role", "app")


def test_purge_command(capsys):
    _at(400, 2, 0)
    _at(0, 1, 0)
    make_user("aud", "auditor")
    call_command("audit", "purge", "--actor", "aud")
    assert "purged 2 record(s)" in capsys.readouterr().out
    assert AuditRecord.objects.get(action="audit.purge").actor_name == "aud"
