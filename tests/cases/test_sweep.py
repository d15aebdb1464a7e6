"""The SLA sweep, the overdue list, the sweep task and `gridgov worker`."""

import datetime as dt
import importlib
import itertools
import signal
import sys
import types

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from gridgov.cases import calendar as cal
from gridgov.cases import sla
from gridgov.cases.choices import SlaState, Status
from gridgov.cases.models import Case, Category, TimelineEntry
from gridgov.places.models import Region
from gridgov.privacy.models import AuditRecord

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)
H = dt.timedelta(hours=1)

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    cal.invalidate_calendar_cache()
    yield
    cal.invalidate_calendar_cache()


@pytest.fixture
def region():
    street = Region.objects.create(code="350502001", name="测试街道", level="street")
    return Region.objects.create(code="350502001001", name="测试社区", level="community", parent=street)


@pytest.fixture
def quiet():
    """A category that does not escalate overdue cases."""
    return Category.objects.create(code="Q01", name="不上报", escalate_when_overdue=False)


@pytest.fixture
def loud():
    return Category.objects.create(code="L01", name="超期上报", escalate_when_overdue=True)


def make_case(region, *, due, warn=None, state=SlaState.NORMAL, is_open=True, category=None, **extra) -> Case:
    n = next(_numbers)
    return Case.objects.create(
        number=f"350502-20260301-{n:05d}",
        channel="patrol",
        title=f"测试案件 {n}",
        region=region,
        owner_region=region,
        scope_path=region.path,
        reported_at=NOW - 100 * H,
        status=Status.DISPATCHED if is_open else Status.CLOSED,
        is_open=is_open,
        due_at=due,
        warn_at=warn if warn is not None else (due - 2 * H if due else None),
        sla_state=state,
        category=category,
        **extra,
    )


def states(*cases) -> list[str]:
    return [Case.objects.get(pk=c.pk).sla_state for c in cases]


def test_sweep_marks_warning_and_overdue_once(region, quiet):
    fine = make_case(region, due=NOW + 10 * H, category=quiet)
    warned = make_case(region, due=NOW + H, category=quiet)  # warn_at = NOW - 1 h
    late = make_case(region, due=NOW - H, category=quiet)
    both = make_case(region, due=NOW - 5 * H, state=SlaState.WARNING, category=quiet)
    already = make_case(region, due=NOW - 50 * H, state=SlaState.OVERDUE, category=quiet)
    closed = make_case(region, due=NOW - H, is_open=False, category=quiet)
    no_limit = make_case(region, due=None, state=SlaState.NONE, category=quiet)
    edge = make_case(region, due=NOW, category=quiet)  # due exactly now: overdue

    result = sla.sweep(now=NOW)
    assert (result["warning"], result["overdue"]) == (1, 3)
    assert result["escalated"] == result["escalation_failed"] == 0
    assert states(fine, warned, late, both, already, closed, no_limit, edge) == [
        "normal", "warning", "overdue", "overdue", "overdue", "normal", "none", "overdue",
    ]

    entries = TimelineEntry.objects.order_by("case_id")
    assert [(e.case_id, e.action, e.public) for e in entries] == sorted(
        [(warned.pk, "sla_warning", False), (late.pk, "sla_overdue", False),
         (both.pk, "sla_overdue", False), (edge.pk, "sla_overdue", False)]
    )
    assert TimelineEntry.objects.get(case=both).data == {"from": "warning", "to": "overdue"}
    assert all(e.at == NOW and e.actor_id is None for e in entries)

    record = AuditRecord.objects.get(action="sla.sweep")
    assert (record.actor_id, record.object_type, record.object_id) == (None, "cases.case", "*")
    assert record.data["warning"] == 1 and record.data["overdue"] == 3

    # a second run at the same moment changes nothing
    again = sla.sweep(now=NOW)
    assert (again["warning"], again["overdue"]) == (0, 0)
    assert TimelineEntry.objects.count() == 4
    assert AuditRecord.objects.filter(action="sla.sweep").count() == 2  # each sweep is audited
    # closed cases are never touched
    closed.refresh_from_db()
    assert closed.sla_state == "normal" and not closed.timeline.exists()


def test_a_case_goes_warning_then_overdue(region, quiet):
    case = make_case(region, due=NOW + H, warn=NOW - H, category=quiet)
    assert sla.sweep(now=NOW)["warning"] == 1
    assert sla.sweep(now=NOW + 30 * dt.timedelta(minutes=1))["warning"] == 0
    assert sla.sweep(now=NOW + 2 * H)["overdue"] == 1
    assert list(case.timeline.values_list("action", flat=True)) == ["sla_warning", "sla_overdue"]


def test_sweep_defaults_to_now(region, quiet):
    case = make_case(region, due=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), category=quiet)
    assert sla.sweep()["overdue"] == 1
    assert states(case) == ["overdue"]
    with pytest.raises(ValueError):
        sla.sweep(now=dt.datetime(2026, 1, 1))


def test_sweep_handles_more_cases_than_one_chunk(region, quiet, monkeypatch):
    monkeypatch.setattr(sla, "CHUNK", 7)
    cases = [make_case(region, due=NOW - H, category=quiet) for _ in range(20)]
    assert sla.sweep(now=NOW)["overdue"] == 20
    assert set(states(*cases)) == {"overdue"}
    assert TimelineEntry.objects.filter(action="sla_overdue").count() == 20


def _services():
    """gridgov.cases.services.escalate_case, or a clear failure (never a silent skip)."""
    try:
        services = importlib.import_module("gridgov.cases.services")
    except ImportError as exc:
        pytest.fail(f"gridgov.cases.services cannot be imported ({exc}); the sweep needs its escalate_case()")
    if not hasattr(services, "escalate_case"):
        pytest.fail("gridgov.cases.services.escalate_case(actor, case, reason) does not exist yet; the sweep calls it")
    return services


def test_overdue_cases_are_escalated_when_their_category_says_so(region, quiet, loud, monkeypatch):
    services = _services()
    calls = []
    monkeypatch.setattr(services, "escalate_case", lambda **kw: calls.append(kw))
    loud_late = make_case(region, due=NOW - H, category=loud)
    make_case(region, due=NOW - H, category=quiet)
    make_case(region, due=NOW - H, category=None)
    make_case(region, due=NOW + 3 * H, warn=NOW - H, category=loud)  # only warning: not escalated

    result = sla.sweep(now=NOW)
    assert (result["warning"], result["overdue"], result["escalated"]) == (1, 3, 1)
    assert [(c["actor"], c["case"].pk, c["reason"]) for c in calls] == [(None, loud_late.pk, "超期自动上报")]
    # not again on the next sweep
    assert sla.sweep(now=NOW + H)["escalated"] == 0
    assert len(calls) == 1


def test_real_escalation_moves_the_case_up_a_level(region, loud):
    _services()
    case = make_case(region, due=NOW - H, category=loud, accepted_at=NOW - 90 * H)
    result = sla.sweep(now=NOW)
    case.refresh_from_db()
    assert result["escalated"] + result["escalation_refused"] == 1, result
    assert result["escalation_failed"] == 0
    if result["escalated"]:
        assert case.owner_region == region.parent
        assert case.escalation_count == 1


def test_failed_escalation_does_not_undo_the_sweep(region, loud, monkeypatch):
    services = _services()

    def boom(**kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(services, "escalate_case", boom)
    case = make_case(region, due=NOW - H, category=loud)
    result = sla.sweep(now=NOW)
    assert (result["overdue"], result["escalated"], result["escalation_failed"]) == (1, 0, 1)
    assert states(case) == ["overdue"]
    assert case.timeline.filter(action="sla_overdue").exists()


def test_missing_escalation_service_is_reported_not_fatal(region, loud, monkeypatch):
    monkeypatch.setitem(sys.modules, "gridgov.cases.services", types.ModuleType("gridgov.cases.services"))
    make_case(region, due=NOW - H, category=loud)
    result = sla.sweep(now=NOW)
    assert result["overdue"] == 1
    assert result["escalation_unavailable"] is True


# ---------------------------------------------------------------- the overdue list


def test_overdue_list_is_ordered_open_and_scopable(region, quiet):
    other_street = Region.objects.create(code="350502002", name="另一街道", level="street")
    other = Region.objects.create(code="350502002001", name="另一社区", level="community", parent=other_street)
    b = make_case(region, due=NOW - 2 * H, category=quiet)
    a = make_case(region, due=NOW - 5 * H, category=quiet)
    c = make_case(other, due=NOW - 3 * H, category=quiet)
    make_case(region, due=dt.datetime(2099, 1, 1, tzinfo=dt.UTC), category=quiet)
    make_case(region, due=NOW - 9 * H, is_open=False, category=quiet)
    make_case(region, due=None, category=quiet)

    assert list(sla.overdue_cases(now=NOW)) == [a, c, b]
    scoped = Case.objects.filter(scope_path__startswith=region.path)
    assert list(sla.overdue_cases(scoped, now=NOW)) == [a, b]
    assert sla.overdue_cases(now=NOW).count() == 3
    assert sla.overdue_cases().count() == 3  # defaults to now
    assert sla.overdue_count(now=NOW) == 3
    assert sla.overdue_count(scoped, now=NOW) == 2


def test_planner_settings_are_put_back(region, quiet):
    make_case(region, due=NOW - H, category=quiet)
    sla.sweep(now=NOW)
    sla.overdue_count(now=NOW)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan')")
            assert cursor.fetchone() == ("on", "on")


def test_overdue_list_and_sweep_use_the_deadline_indexes(region, quiet):
    make_case(region, due=NOW - H, category=quiet)
    queries = [
        ("case_open_due", sla.overdue_cases(now=NOW)[:50]),
        ("case_open_due", Case.objects.filter(is_open=True, due_at__lte=NOW).exclude(sla_state="overdue").values("id")),
        ("case_open_warn", Case.objects.filter(is_open=True, warn_at__lte=NOW).exclude(sla_state="warning").values("id")),
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # tiny table: make the planner show its choice
        for index, qs in queries:
            plan = qs.explain()
            assert index in plan, plan


# ---------------------------------------------------------------- task and worker


@pytest.fixture
def restore_signals(monkeypatch):
    """The worker installs signal handlers (put back afterwards) and closes connections
    that are inside a transaction, which would end the test's own transaction."""
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_sla_sweep_task_calls_the_sweep(region, quiet):
    from gridgov.cases.tasks import sla_sweep

    make_case(region, due=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), category=quiet)
    result = sla_sweep.call()
    assert result["overdue"] == 1


def test_worker_enqueues_and_runs_the_sweep(region, quiet, restore_signals):
    from django_tasks_db.models import DBTaskResult

    from gridgov.cases.management.commands.worker import enqueue_sweep

    case = make_case(region, due=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), category=quiet)
    call_command("worker", "--batch", "--no-reload", "--no-startup-delay", "--sweep-interval", "60", "--no-scan", verbosity=0)
    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "gridgov.cases.tasks.sla_sweep"
    assert task.status == "SUCCESSFUL", task.traceback
    assert task.return_value["overdue"] == 1
    assert states(case) == ["overdue"]

    # while a sweep waits in the queue another one is not added
    assert enqueue_sweep() is True
    assert enqueue_sweep() is False
    assert DBTaskResult.objects.count() == 2


def test_worker_without_sweep_and_bad_interval(restore_signals):
    from django_tasks_db.models import DBTaskResult

    call_command("worker", "--batch", "--no-reload", "--no-startup-delay", "--no-sweep", "--no-scan", verbosity=0)
    assert not DBTaskResult.objects.exists()
    for bad in ("0", "soon", "nan"):
        with pytest.raises(CommandError, match="sweep-interval"):
            call_command("worker", "--batch", "--no-reload", "--sweep-interval", bad, verbosity=0)


def test_scheduler_thread_enqueues_periodically(monkeypatch):
    from gridgov.cases.management.commands import worker

    calls = []
    monkeypatch.setattr(worker, "enqueue_sweep", lambda: calls.append(1) or True)
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(worker.connections, "close_all", lambda: None)
    scheduler = worker.SweepScheduler(0.01)
    scheduler.start()
    import time

    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    scheduler.join(2)
    assert len(calls) >= 3 and not scheduler.is_alive()
