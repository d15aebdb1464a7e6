"""After closure: evaluation (评价/回访), reopening, and correcting the location."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from gridgov.accounts.models import Role
from gridgov.errors import Forbidden, IllegalTransition, InvalidInput
from gridgov.places.models import Grid

from ..choices import OPEN_STATUSES, Closure
from ..models import (
    Case,
)
from ._base import (
    INTAKE_LEVEL,
    S,
    _ancestor_at,
    _in_path,
    _locked,
    _now,
    _record,
    _require,
    _require_command,
    _set_status,
    _start_clock,
    _text,
)

# --- after closure ----------------------------------------------------------------------


def _is_reporter(actor, case: Case) -> bool:
    return case.reporter_id == actor.pk or case.followers.filter(user=actor).exists()


@transaction.atomic
def evaluate_case(*, actor, case: Case, rating: int, comment: str = "", callback: bool = False) -> Case:
    """The reporter rates the result 1–5 (评价), or staff record a callback (回访)."""
    case = _locked(case)
    _require(actor, "callback" if callback else "evaluate", case, allowed_from={S.CLOSED})
    if not callback and not actor.is_superuser and not _is_reporter(actor, case):
        raise Forbidden("只有上报人可以评价", "Only the reporter may rate the case", code="not_reporter")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("评价须为1至5分", "rating must be 1..5", details={"field": "rating"})
    case.rating, case.rating_comment = rating, _text(comment, "comment", "评价意见", required=False)
    case.evaluated_at, case.evaluated_by_callback = _now(), bool(callback)
    _set_status(case, S.EVALUATED)
    case.save()
    _record(case, actor, "callback" if callback else "evaluate", S.CLOSED, note=case.rating_comment, data={"rating": rating})
    return case


@transaction.atomic
def reopen_case(*, actor, case: Case, reason: str) -> Case:
    """Reopen a closed case within the allowed days (重新打开): it goes back for dispatch."""
    case = _locked(case)
    _require(actor, "reopen", case, allowed_from={S.CLOSED, S.EVALUATED})
    if actor.role == Role.RESIDENT and not _is_reporter(actor, case):
        raise Forbidden("只有上报人可以重新打开", "Only the reporter may reopen the case", code="not_reporter")
    if actor.role == Role.DISPATCHER:
        _require_command(actor, case)
    if case.closure not in {Closure.RESOLVED, Closure.NOT_RESOLVABLE}:
        raise IllegalTransition("该结案类型不能重新打开", "This closure cannot be reopened")
    days = settings.GRIDGOV["REOPEN_DAYS"]
    now = _now()
    if case.closed_at is None or now - case.closed_at > timedelta(days=days):
        raise IllegalTransition(f"结案超过{days}天，不能重新打开", f"Closed more than {days} days ago", code="reopen_window_passed")
    reason = _text(reason, "reason", "重新打开的理由")
    from_status = case.status
    case.reopen_count += 1
    case.closure = ""
    case.closed_at = case.closed_on_time = None
    case.owner_region = _ancestor_at(case.region, INTAKE_LEVEL)
    case.owner_department = case.owner_user = None
    if case.category is not None:
        _start_clock(case, now)
    _set_status(case, S.ACCEPTED)
    case.save()
    _record(case, actor, "reopen", from_status, note=reason)
    return case


@transaction.atomic
def correct_location(*, actor, case: Case, grid: Grid, note: str = "") -> Case:
    """Correct the grid a case was located to (更正网格)."""
    case = _locked(case)
    _require(actor, "correct_location", case, allowed_from=OPEN_STATUSES)
    if not actor.is_superuser and not _in_path(actor, grid.path):
        raise InvalidInput("只能更正到您辖区内的网格", "The grid lies outside your territory", details={"field": "grid"})
    old = case.grid.code if case.grid_id else None
    case.grid, case.region, case.scope_path = grid, grid.region, grid.path
    case.save()
    _record(case, actor, "correct_location", case.status, note=note, data={"from": old, "to": grid.code}, public=False)
    return case
