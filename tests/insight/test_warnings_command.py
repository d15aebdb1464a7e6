"""`gridgov insight scan` and the worker's scheduled scan."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from gridgov.insight.models import EarlyWarning, RollupState, WarningRule
from tests.factories import build_world

from .warning_data import AT, spread


@pytest.fixture
def w(db):
    world = build_world()
    spread(world, 9, days=6, grid=0, cat="litter")
    return world


def scan(*args) -> str:
    out = io.StringIO()
    call_command("insight", "scan", *args, stdout=out)
    return out.getvalue()


def test_scan_prints_a_table_and_stores_warnings(w):
    text = scan("--at", AT.isoformat())
    assert "surge" in text and "new" in text and "暴露垃圾" in text
    assert "dispute-cluster" in text and "no categories configured" in text
    assert EarlyWarning.objects.count() == 1 and RollupState.objects.get().built_through.isoformat() == "2026-03-03"
    again = scan("--at", AT.isoformat())
    assert "refreshed" in again and EarlyWarning.objects.count() == 1


def test_scan_dry_run_json(w):
    payload = json.loads(scan("--dry-run", "--json", "--at", "2026-03-04T10:00"))  # no zone: Asia/Shanghai
    assert payload["dry_run"] is True and payload["at"].startswith("2026-03-04T10:00:00+08:00")
    (firing,) = payload["firings"]
    assert firing["rule"] == "surge" and firing["outcome"] == "would_raise" and firing["evidence"]["count"] == 9
    assert {r["rule"] for r in payload["rules"]} == set(WarningRule.objects.values_list("code", flat=True))
    assert not EarlyWarning.objects.exists()


def test_scan_nothing_fired(db):
    assert "nothing fired" in scan("--at", AT.isoformat())


@pytest.mark.parametrize("args", [("--at", "yesterday"), ("--dry-run", "--rebuild-rollup")])
def test_scan_bad_arguments(w, args):
    with pytest.raises(CommandError):
        scan(*args)
    assert not EarlyWarning.objects.exists()


def test_scan_bad_rule_parameters_is_a_command_error(w):
    WarningRule.objects.filter(code="surge").update(params={"alpha": "small"})
    with pytest.raises(CommandError, match="surge"):
        scan("--at", AT.isoformat())


def test_rebuild_rollup(w):
    scan("--rebuild-rollup", "--at", AT.isoformat())
    assert RollupState.objects.get().built_through.isoformat() == "2026-03-03"


@pytest.fixture
def restore_signals(monkeypatch):
    """The worker installs signal handlers (put back afterwards) and closes connections
    that are inside a transaction, which would end the test's own transaction."""
    import signal

    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_worker_schedules_and_runs_the_scan(w, restore_signals):
    from django_tasks_db.models import DBTaskResult

    from gridgov.cases.management.commands.worker import enqueue_scan

    call_command("worker", "--batch", "--no-reload", "--no-startup-delay", "--no-sweep", verbosity=0)
    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "gridgov.insight.tasks.insight_scan"
    assert task.status == "SUCCESSFUL", task.traceback
    assert task.return_value["rules"] == 6
    assert enqueue_scan() is True and enqueue_scan() is False


def test_worker_bad_scan_interval(db):
    for bad in ("0", "often"):
        with pytest.raises(CommandError, match="scan-interval"):
            call_command("worker", "--batch", "--no-reload", "--no-sweep", "--scan-interval", bad, verbosity=0)
