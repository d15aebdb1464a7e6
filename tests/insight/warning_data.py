"""Cases for the hot-spot and early-warning tests, reported through the intake service."""

import datetime as dt
from zoneinfo import ZoneInfo

from gridgov.cases import services as case_services

LOCAL = ZoneInfo("Asia/Shanghai")
# A Wednesday, 10:00 in Shanghai: the moment the tests evaluate the rules at.
AT = dt.datetime(2026, 3, 4, 10, 0, tzinfo=LOCAL)


def report(w, *, grid=0, cat="litter", at=AT, ago=None, channel="patrol", address="", phone="", title="测试案件",
           actor=None):
    """Report one case in grid `grid` of the world, `ago` (a timedelta) before `at`."""
    when = at - (ago if ago is not None else dt.timedelta(hours=1))
    return case_services.report_case(
        actor=actor, channel=channel, title=title, category=w.cats[cat] if cat else None, grid=w.grids[grid],
        address=address, reporter_phone=phone, reported_at=when,
    )


def spread(w, n: int, *, days: float, grid=0, cat="litter", at=AT, offset_days: float = 0, **kw):
    """n cases spread evenly over the `days` days that end `offset_days` before `at`."""
    step = days / n
    return [report(w, grid=grid, cat=cat, at=at, ago=dt.timedelta(days=offset_days + step * (i + 0.5)), **kw) for i in range(n)]
