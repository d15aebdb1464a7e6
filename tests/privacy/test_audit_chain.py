"""The audit record's content, the hash chains, checkpoints and `gridgov audit verify`."""

import itertools
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from gridgov.privacy import chain
from gridgov.privacy.models import AuditCheckpoint, AuditRecord
from gridgov.privacy.services import audit
from tests.api.conftest import Api
from tests.factories import build_world

pytestmark = pytest.mark.django_db


def _write(n: int, **kw) -> list[AuditRecord]:
    return [audit(actor=None, action="test.write", object_type="t", object_id=str(i), data={"i": i, **kw}) for i in range(n)]


def test_records_link_into_a_chain_that_verifies():
    records = _write(5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]  # one thread keeps to one chain
    assert records[0].prev_hash == ""
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash and after.chain == before.chain
    stored = AuditRecord.objects.get(pk=records[2].pk)
    assert stored.hash == records[2].hash and stored.hash.startswith("sha256:")
    row = {name: getattr(stored, name) for name in chain.CANONICAL_FIELDS}
    assert chain.record_hash(stored.prev_hash, row) == stored.hash
    report = chain.verify()
    assert report.ok and report.records == 5


def test_sm3_by_setting_and_a_chain_that_changes_algorithm(settings):
    _write(2)
    settings.GRIDGOV = {**settings.GRIDGOV, "AUDIT": {**settings.GRIDGOV["AUDIT"], "HASH": "sm3"}}
    sm3 = _write(2)
    assert all(r.hash.startswith("sm3:") for r in sm3)
    call_command("audit", "checkpoint", verbosity=0)
    assert AuditCheckpoint.objects.get().signature.startswith("sm3:")  # HMAC-SM3
    assert chain.verify().ok


def test_one_statement_per_record_when_the_head_hint_is_right():
    _write(1)
    with CaptureQueriesContext(connection) as queries:
        _write(3)
    assert len(queries) == 3, [q["sql"] for q in queries]  # the conditional INSERT, nothing else


def test_a_stale_head_hint_after_a_rollback_heals():
    first = _write(1)[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        _write(2)  # the process now believes the head is seq 3 …
        raise RuntimeError("business failure")
    again = _write(1)[0]  # … but seq 2 and 3 were rolled back: the writer re-reads (on another chain)
    assert again.chain != first.chain and again.seq == 1 and again.prev_hash == ""
    assert not AuditRecord.objects.filter(chain=first.chain, seq__gt=1).exists()
    assert chain.verify().ok


def test_a_head_moved_by_another_process_is_re_read_and_the_writer_moves_on():
    mine = _write(1)[0]
    # Another process appends to the same chain: our hint is now one behind.
    chain.forget_heads()
    other = audit(actor=None, action="test.other", object_type="t", object_id="x")
    assert other.chain == mine.chain
    chain._heads[("default", mine.chain)] = (mine.seq, mine.hash)
    with CaptureQueriesContext(connection) as queries:
        third = _write(1)[0]
    assert third.chain != mine.chain  # collided writers spread out over the chains
    assert len(queries) == 3  # the refused INSERT, the new chain's head, the INSERT
    fourth = _write(1)[0]
    assert (fourth.chain, fourth.seq, fourth.prev_hash) == (third.chain, third.seq + 1, third.hash)
    assert chain.verify().ok


def test_request_context_lands_in_the_record(client, db):
    w = build_world()
    from gridgov.accounts.services import issue_token

    token = issue_token(actor=None, user=w.users["worker"], name="t")[1]
    api = Api(client, token)
    api.headers.update({"User-Agent": "GridApp/2.1 (Android 14)", "X-Request-ID": "req-abcdef123456"})
    response = api.post("/cases", {"channel": "patrol", "title": "路灯不亮", "lat": 24.905, "lon": 118.505})
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "req-abcdef123456"
    record = AuditRecord.objects.get(action="case.report")
    assert (record.ip, record.request_id, record.user_agent) == ("127.0.0.1", "req-abcdef123456", "GridApp/2.1 (Android 14)")
    assert (record.actor_name, record.actor_role, record.result) == ("worker", "grid_worker", "success")
    assert record.object_type == "cases.case" and record.data["to"] == "reported"

    api.headers["X-Request-ID"] = "<script>"  # not a request id: a fresh one replaces it
    response = api.get("/me")
    assert response["X-Request-ID"] != "<script>" and len(response["X-Request-ID"]) == 32


def test_before_after_and_fields_touched():
    record = audit(actor=None, action="config.update", object_type="cases.category", object_id="7",
                   before={"limit": 3, "name": "路灯"}, after={"limit": 5, "name": "路灯"}, purpose="maintenance")
    assert record.fields == ["limit"]
    assert record.data == {"before": {"limit": 3, "name": "路灯"}, "after": {"limit": 5, "name": "路灯"}}
    assert record.purpose == "maintenance"
    assert chain.verify().ok


def test_checkpoints_sign_moved_heads_only_and_verify_reports_success(capsys):
    _write(3)
    call_command("audit", "checkpoint")
    call_command("audit", "checkpoint")
    assert AuditCheckpoint.objects.count() == 1
    _write(1)
    call_command("audit", "checkpoint")
    assert AuditCheckpoint.objects.count() == 2
    call_command("audit", "verify")
    assert "audit log intact" in capsys.readouterr().out


def test_worker_schedules_the_checkpoint(monkeypatch):
    from gridgov.cases.management.commands import worker

    calls = []
    monkeypatch.setattr(worker, "enqueue_audit_checkpoint", lambda: calls.append(1) or True)
    # The worker runs one scheduler per periodic task; this is the checkpoint's.
    scheduler = worker.SweepScheduler(0.01, lambda: worker.enqueue_audit_checkpoint(), "audit checkpoint")
    scheduler.start()
    try:
        for _ in range(200):
            if calls:
                break
            threading.Event().wait(0.01)
    finally:
        scheduler.stop()
        scheduler.join(2)
    assert calls
    from gridgov.privacy.tasks import audit_checkpoint

    _write(2)
    assert audit_checkpoint.call() == {"checkpoints": 1}


def test_checkpoint_needs_a_key_outside_the_database(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("GRIDGOV_AUDIT_KEY")
    settings.DEBUG = False
    settings.GRIDGOV = {**settings.GRIDGOV, "AUDIT": {**settings.GRIDGOV["AUDIT"], "KEY_FILE": str(tmp_path / "none")}}
    _write(1)
    with pytest.raises(Exception, match="GRIDGOV_AUDIT_KEY"):
        call_command("audit", "checkpoint")
    (tmp_path / "key").write_text("k" * 40)
    settings.GRIDGOV["AUDIT"]["KEY_FILE"] = str(tmp_path / "key")
    call_command("audit", "checkpoint", verbosity=0)
    assert AuditCheckpoint.objects.count() == 1


def test_audit_outside_any_transaction(committed):
    assert connection.get_autocommit()
    record = audit(actor=None, action="auth.login_failed", object_type="accounts.user", object_id="ghost", result="failure")
    assert AuditRecord.objects.filter(pk=record.pk, result="failure").exists()
    assert chain.verify().ok


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent writers need PostgreSQL (SQLite has one writer)")
def test_concurrent_writers_on_postgresql(committed):
    threads, per_thread = 8, 25
    errors = []
    barrier = threading.Barrier(threads)

    def writer(n):
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit(actor=None, action="test.concurrent", object_type="t", object_id=f"{n}-{i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors
    assert AuditRecord.objects.filter(action="test.concurrent").count() == threads * per_thread
    assert AuditRecord.objects.values("chain").distinct().count() > 1
    report = chain.verify()
    assert report.ok, report.problems[:3]


def test_verify_command_exit_code_on_failure(capsys):
    from tests.privacy.conftest import raw, triggers_bypassed

    records = _write(3)
    with triggers_bypassed():
        raw("UPDATE privacy_auditrecord SET object_id = %s WHERE id = %s", ["evil", records[1].pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify")
    assert excinfo.value.returncode == 1
    out = capsys.readouterr().out
    assert f"record_id={records[1].pk} " in out and "altered" in out
