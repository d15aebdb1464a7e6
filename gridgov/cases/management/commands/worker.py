"""gridgov worker [--sweep-interval 60] [--no-sweep] [--scan-interval 900] [--no-scan] [db_worker options…]

Runs the django-tasks-db worker (all of ``db_worker``'s options: --queue-name, --batch,
--max-tasks, --reload, …) and schedules the SLA sweep and the insight scan (hot-spot
rollup and early-warning rules, every ``GRIDGOV["INSIGHT"]["SCAN_INTERVAL_SECONDS"]``,
default 15 minutes). The scan is named by its task path, so this lower app does not
import the insight app; it is scheduled the same way as the sweep.

Design: a plain loop, no scheduler service. At start-up the command enqueues one
``sla_sweep`` task; then a daemon thread enqueues another every ``--sweep-interval``
seconds (default 60) for as long as the worker runs. It skips enqueueing while a sweep
is already waiting in the queue, so several workers, or a slow sweep, do not pile them
up; sweeps are idempotent anyway. The tasks themselves run in the worker loop like any
other task. Run extra workers with --no-sweep if one scheduler is enough. With
--reload (the default under DEBUG) only the reloaded child process schedules.
The same thread enqueues the signed audit checkpoint every
``GRIDGOV["AUDIT"]["CHECKPOINT_INTERVAL"]`` seconds (``gridgov.privacy.tasks``).
"""

import logging
import math
import os
import threading

from django.core.management.base import CommandError
from django.db import close_old_connections, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

logger = logging.getLogger("gridgov.worker")


def sla_sweep_waiting() -> bool:
    from django_tasks_db.models import DBTaskResult

    from gridgov.cases.tasks import sla_sweep

    return DBTaskResult.objects.ready().filter(task_path=sla_sweep.module_path).exists()


def enqueue_sweep() -> bool:
    """Enqueue an SLA sweep unless one is already waiting. Returns whether it did."""
    from gridgov.cases.tasks import sla_sweep

    if sla_sweep_waiting():
        return False
    sla_sweep.enqueue()
    return True


INSIGHT_SCAN_TASK = "gridgov.insight.tasks.insight_scan"


def enqueue_scan() -> bool:
    """Enqueue an insight scan unless one is already waiting. Returns whether it did."""
    from django.utils.module_loading import import_string
    from django_tasks_db.models import DBTaskResult

    scan = import_string(INSIGHT_SCAN_TASK)
    if DBTaskResult.objects.ready().filter(task_path=scan.module_path).exists():
        return False
    scan.enqueue()
    return True


def scan_interval_setting() -> float:
    from django.conf import settings

    return float(((getattr(settings, "GRIDGOV", {}) or {}).get("INSIGHT") or {}).get("SCAN_INTERVAL_SECONDS", 900))


def enqueue_audit_checkpoint() -> bool:
    """Enqueue a signed audit checkpoint unless one is already waiting."""
    from django_tasks_db.models import DBTaskResult

    from gridgov.privacy.tasks import audit_checkpoint

    if DBTaskResult.objects.ready().filter(task_path=audit_checkpoint.module_path).exists():
        return False
    audit_checkpoint.enqueue()
    return True


class SweepScheduler(threading.Thread):
    """Enqueues the SLA sweep (or another periodic task) every ``interval`` seconds until stopped."""

    def __init__(self, interval: float, enqueue=None, name: str = "SLA sweep"):
        super().__init__(name=f"gridgov-scheduler-{name}", daemon=True)
        self.interval = interval
        self.enqueue = enqueue or enqueue_sweep
        self.label = name
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                close_old_connections()
                self.enqueue()
            except Exception:  # the database may be briefly away: try again next time
                logger.exception("could not enqueue the %s", self.label)
            finally:
                connections.close_all()

    def stop(self) -> None:
        self.stopped.set()


class Command(DbWorkerCommand):
    help = "Run the background worker and schedule the SLA sweep."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--sweep-interval", default="60", help="seconds between SLA sweeps (default: 60)"
        )
        parser.add_argument("--no-sweep", action="store_true", help="do not schedule the SLA sweep")
        parser.add_argument(
            "--scan-interval", default=None, help="seconds between insight scans (default: the INSIGHT setting, 900)"
        )
        parser.add_argument("--no-scan", action="store_true", help="do not schedule the insight scan")

    def handle(self, *args, sweep_interval="60", no_sweep=False, scan_interval=None, no_scan=False, **options):
        interval = _seconds(sweep_interval, "--sweep-interval")
        scan_every = _seconds(scan_interval if scan_interval is not None else scan_interval_setting(), "--scan-interval")

        reloading = options.get("reload") and not options.get("batch")
        schedulers = []
        # Under the autoreloader the parent process only restarts the child: schedule in the child.
        scheduling = not reloading or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        if not no_sweep and scheduling:
            enqueue_sweep()
            if not options.get("batch"):
                schedulers.append(SweepScheduler(interval))
                from django.conf import settings

                checkpoint_every = settings.GRIDGOV["AUDIT"]["CHECKPOINT_INTERVAL"]
                if checkpoint_every:
                    schedulers.append(SweepScheduler(checkpoint_every, enqueue_audit_checkpoint, "audit checkpoint"))
            self._warn_calendar()
        if not no_scan and scheduling:
            enqueue_scan()
            if not options.get("batch"):
                schedulers.append(SweepScheduler(scan_every, enqueue_scan, "insight scan"))
        for scheduler in schedulers:
            scheduler.start()
        try:
            return super().handle(*args, **options)
        finally:
            for scheduler in schedulers:
                scheduler.stop()

    def _warn_calendar(self) -> None:
        from gridgov.cases.calendar import calendar_warning_message, unpublished_years

        try:
            missing = unpublished_years()
        except Exception:
            return
        if missing:
            self.stderr.write(self.style.WARNING(calendar_warning_message(missing)))


def _seconds(value, option: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{option} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 1:
        raise CommandError(f"{option} must be at least 1 second, got {value!r}")
    return seconds
