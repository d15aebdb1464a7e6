"""Attention and levels: supervision (督办), escalation (上报), long-standing cases (挂账)."""


from django.db import transaction
from django.utils import timezone

from gridgov.errors import IllegalTransition, InvalidInput
from gridgov.places.models import RegionLevel

from ..choices import OPEN_STATUSES, SlaState
from ..models import (
    Assignment,
    Case,
)
from ._base import (
    S,
    _locked,
    _notify,
    _now,
    _owner_users,
    _record,
    _require,
    _require_command,
    _set_status,
    _start_clock,
    _text,
)

# --- attention and levels ---------------------------------------------------------------

ESCALATABLE = {S.ACCEPTED, S.DISPATCHED, S.IN_HANDLING, S.RETURNED}


@transaction.atomic
def supervise_case(*, actor, case: Case, note: str) -> Case:
    """Supervise (督办): raise attention on an open case and notify whoever holds it."""
    case = _locked(case)
    _require(actor, "supervise", case, allowed_from=OPEN_STATUSES - {S.REPORTED})
    note = _text(note, "note", "督办意见")
    case.supervision_count += 1
    case.save()
    _record(case, actor, "supervise", case.status, note=note, public=False)
    _notify(_owner_users(case), case, "supervised", f"督办：案件 {case.number} — {note}")
    return case


@transaction.atomic
def escalate_case(*, actor, case: Case, reason: str) -> Case:
    """Escalate to the level above (上报): 小事村里评、大事镇里评、难事市里评.

    `actor=None` is the system (the SLA sweep escalating an overdue case)."""
    case = _locked(case)
    if actor is not None:
        _require(actor, "escalate", case, allowed_from=ESCALATABLE)
        _require_command(actor, case)
    elif case.status not in ESCALATABLE:
        raise IllegalTransition("案件当前状态不能上报", "Cannot escalate in this status")
    reason = _text(reason, "reason", "上报理由")
    parent = case.owner_region.parent
    if parent is None or parent.level == RegionLevel.PROVINCE:
        raise IllegalTransition("已是最高处置层级，无法继续上报", "Already at the top level", code="top_level")
    from_status = case.status
    now = _now()
    Assignment.objects.filter(case=case, finished_at__isnull=True, returned_at__isnull=True).update(finished_at=now)
    case.owner_region, case.owner_department, case.owner_user = parent, None, None
    case.escalation_count += 1
    _set_status(case, S.ACCEPTED)
    case.save()
    _record(case, actor, "escalate", from_status, note=reason, data={"to": parent.name})
    _notify(_owner_users(case), case, "escalated", f"下级上报案件 {case.number}：{reason}")
    return case


@transaction.atomic
def hang_case(*, actor, case: Case, review_on, reason: str) -> Case:
    """Mark a case long-standing (挂账) with a review date; its clock stops until resumed."""
    case = _locked(case)
    _require(actor, "hang", case, allowed_from=ESCALATABLE)
    _require_command(actor, case)
    reason = _text(reason, "reason", "挂账理由")
    if review_on is None or review_on <= timezone.localdate():
        raise InvalidInput("复查日期必须晚于今天", "review_on must be in the future", details={"field": "review_on"})
    from_status = case.status
    case.review_on = review_on
    case.due_at = case.warn_at = None
    case.sla_state = SlaState.NONE
    _set_status(case, S.LONG_STANDING)
    case.save()
    _record(case, actor, "hang", from_status, note=reason, data={"review_on": review_on.isoformat()})
    return case


@transaction.atomic
def resume_case(*, actor, case: Case, note: str = "") -> Case:
    """Take a long-standing case up again: it waits for dispatch with a fresh time limit."""
    case = _locked(case)
    _require(actor, "resume", case, allowed_from={S.LONG_STANDING})
    _require_command(actor, case)
    now = _now()
    case.review_on = None
    case.owner_department = case.owner_user = None
    _start_clock(case, now)
    _set_status(case, S.ACCEPTED)
    case.save()
    _record(case, actor, "resume", S.LONG_STANDING, note=note)
    return case


