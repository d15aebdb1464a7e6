"""gridgov worker [--sweep-interval 60] [--no-sweep] [db_worker options…]

Runs the django-tasks-db worker (all of ``db_worker``'s options: --queue-name, --batch,
--max-tasks, --reload, …) and schedules the SLA sweep.

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


def enqueue_audit_checkpoint() -> bool:
    """Enqueue a signed audit checkpoint unless one is already waiting."""
    from django_tasks_db.models import DBTaskResult

    from gridgov.privacy.tasks import audit_checkpoint

    if DBTaskResult.objects.ready().filter(task_path=audit_checkpoint.module_path).exists():
        return False
    audit_checkpoint.enqueue()
    return True


class SweepScheduler(threading.Thread):
    """Enqueues the SLA sweep every ``interval`` seconds, and the audit checkpoint every
    ``checkpoint_interval`` seconds, until stopped."""

    def __init__(self, interval: float, checkpoint_interval: float | None = None):
        super().__init__(name="gridgov-sla-scheduler", daemon=True)
        self.interval = interval
        self.checkpoint_interval = checkpoint_interval
        self.stopped = threading.Event()

    def run(self) -> None:
        import time

        next_checkpoint = time.monotonic() + (self.checkpoint_interval or 0)
        while not self.stopped.wait(self.interval):
            try:
                close_old_connections()
                enqueue_sweep()
                if self.checkpoint_interval and time.monotonic() >= next_checkpoint:
                    next_checkpoint = time.monotonic() + self.checkpoint_interval
                    enqueue_audit_checkpoint()
            except Exception:  # the database may be briefly away: try again next time
                logger.exception("could not enqueue the SLA sweep or the audit checkpoint")
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

    def handle(self, *args, sweep_interval="60", no_sweep=False, **options):
        try:
            interval = float(sweep_interval)
        except (TypeError, ValueError):
            raise CommandError(f"--sweep-interval must be a number of seconds, got {sweep_interval!r}") from None
        if not math.isfinite(interval) or interval < 1:
            raise CommandError(f"--sweep-interval must be at least 1 second, got {sweep_interval!r}")

        reloading = options.get("reload") and not options.get("batch")
        scheduler = None
        # Under the autoreloader the parent process only restarts the child: schedule in the child.
        if not no_sweep and (not reloading or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"):
            enqueue_sweep()
            if not options.get("batch"):
                from django.conf import settings

                scheduler = SweepScheduler(interval, settings.GRIDGOV["AUDIT"]["CHECKPOINT_INTERVAL"])
                scheduler.start()
            self._warn_calendar()
        try:
            return super().handle(*args, **options)
        finally:
            if scheduler is not None:
                scheduler.stop()

    def _warn_calendar(self) -> None:
        from gridgov.cases.calendar import calendar_warning_message, unpublished_years

        try:
            missing = unpublished_years()
        except Exception:
            return
        if missing:
            self.stderr.write(self.style.WARNING(calendar_warning_message(missing)))
