"""A simulated clock for generating history.

The case services stamp every step with ``django.utils.timezone.now()`` (state times,
deadlines, timeline, audit, notifications, ``auto_now`` columns). To generate 90 days of
believable history *through* those services, the demo sets the clock to each step's
moment while it runs, so deadlines are computed from the real acceptance time on the
working calendar and every timestamp agrees with every other one. The clock is patched
only inside ``simulated_clock()`` and only by the demo command (one thread).
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from unittest import mock

from django.utils import timezone


class SimulatedClock:
    def __init__(self, real_now):
        self._real_now = real_now
        self.at: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.at if self.at is not None else self._real_now()

    def set(self, moment: dt.datetime) -> None:
        if timezone.is_naive(moment):
            raise ValueError("the simulated clock needs aware datetimes")
        self.at = moment


@contextmanager
def simulated_clock():
    """Patch ``timezone.now`` with a settable clock for the duration of the block."""
    clock = SimulatedClock(timezone.now)
    with mock.patch.object(timezone, "now", clock.now):
        yield clock
