"""Dispatch (派遣), handling (处置), return (退回), extensions (延期), feedback, verification (核查), closure (结案)."""


from django.conf import settings
from django.db import transaction

from gridgov.accounts.models import Role
from gridgov.errors import Forbidden, IllegalTransition, InvalidInput
from gridgov.places.models import Region

from .. import routing
from ..choices import OPEN_STATUSES, Closure, ExtensionState, PhotoKind
from ..models import (
    Assignment,
    Case,
    Department,
    ExtensionRequest,
)
from ..photos import validate_photos
from ._base import (
    S,
    _close,
    _in_path,
    _locked,
    _notify,
    _now,
    _owner_users,
    _record,
    _require,
    _require_command,
    _require_owner_department,
    _save_photos,
    _set_status,
    _sla_state_at,
    _text,
)

# --- dispatch and handling --------------------------------------------------------------


def suggest_dispatch(case: Case) -> routing.Suggestion:
    """The responsibility matrix's proposal for the level that holds the case."""
    return routing.suggest_department(category=case.category, case_region=case.region, level=case.owner_region.level)


@transaction.atomic
def dispatch_case(*, actor, case: Case, department: Department | None = None, region: Region | None = None, note: str = "") -> Case:
    """Dispatch (派遣) to a department at or below the holding level, or down to a lower level."""
    case = _locked(case)
    _require(actor, "dispatch", case, allowed_from={S.ACCEPTED, S.RETURNED, S.DISPATCHED})
    _require_command(actor, case)
    if case.status == S.DISPATCHED and case.owner_department_id:
        raise IllegalTransition("案件已派遣给部门，等待签收或退回", "Already dispatched to a department")
    if (department is None) == (region is None):
        raise InvalidInput("请指定一个处置部门或下级区划", "Give exactly one of department or region", details={"field": "department"})
    holder = case.owner_region
    if department is not None:
        if not department.active:
            raise InvalidInput("该部门已停用", "Department is inactive", details={"field": "department"})
        if not (department.region.path.startswith(holder.path) and case.region.path.startswith(department.region.path)):
            raise InvalidInput("只能派遣给本层级及下级、且管辖案发地的部门", "Department outside the case's chain", details={"field": "department"})
        target_region = holder
    else:
        if not (region.path.startswith(holder.path) and region.pk != holder.pk and case.region.path.startswith(region.path)):
            raise InvalidInput("只能派遣到案发地所在的下级区划", "Region must be a lower level containing the case", details={"field": "region"})
        target_region = region
    suggestion = suggest_dispatch(case)
    now = _now()
    from_status = case.status
    Assignment.objects.create(
        case=case, department=department, region=target_region, from_region=holder, dispatched_by=actor, dispatched_at=now,
        suggestion_source=suggestion.source,
        followed_suggestion=(department is not None and suggestion.department is not None and suggestion.department.pk == department.pk)
        if suggestion.department is not None else None,
    )
    case.owner_department, case.owner_region, case.owner_user = department, target_region, None
    case.dispatched_at = now
    _set_status(case, S.DISPATCHED)
    case.save()
    target = str(department) if department else target_region.name
    _record(case, actor, "dispatch", from_status, note=note, data={"to": target, "suggested": str(suggestion.department or "")})
    _notify(_owner_users(case), case, "dispatched", f"新派遣案件 {case.number}：{case.title}")
    return case


@transaction.atomic
def start_handling(*, actor, case: Case, note: str = "") -> Case:
    """Sign for a dispatched case and start handling it (签收/处置)."""
    case = _locked(case)
    _require(actor, "start", case, allowed_from={S.DISPATCHED})
    _require_owner_department(actor, case)
    case.owner_user = actor
    Assignment.objects.filter(case=case, finished_at__isnull=True, returned_at__isnull=True).update(accepted_at=_now())
    _set_status(case, S.IN_HANDLING)
    case.save()
    _record(case, actor, "start", S.DISPATCHED, note=note)
    return case


@transaction.atomic
def return_case(*, actor, case: Case, reason: str, responsible_party: str) -> Case:
    """Return a case as not ours (退回), naming who is responsible; the holder re-dispatches."""
    case = _locked(case)
    _require(actor, "return", case, allowed_from={S.DISPATCHED, S.IN_HANDLING})
    _require_owner_department(actor, case)
    reason = _text(reason, "reason", "退回理由")
    responsible_party = _text(responsible_party, "responsible_party", "责任主体", max_length=200)
    now = _now()
    assignment = Assignment.objects.filter(case=case, finished_at__isnull=True, returned_at__isnull=True).order_by("-dispatched_at").first()
    if assignment is not None:
        assignment.returned_at, assignment.return_reason = now, reason
        assignment.save(update_fields=["returned_at", "return_reason"])
        case.owner_region = assignment.from_region
    from_status = case.status
    case.owner_department, case.owner_user, case.responsible_party = None, None, responsible_party
    _set_status(case, S.RETURNED)
    case.save()
    _record(case, actor, "return", from_status, note=reason, data={"responsible_party": responsible_party})
    _notify(_owner_users(case), case, "returned", f"案件 {case.number} 被退回：{reason}")
    return case


@transaction.atomic
def request_extension(*, actor, case: Case, extra_working_days: int, reason: str) -> ExtensionRequest:
    """Ask the dispatcher for more time (延期申请)."""
    case = _locked(case)
    _require(actor, "request_extension", case, allowed_from={S.DISPATCHED, S.IN_HANDLING})
    _require_owner_department(actor, case)
    if not isinstance(extra_working_days, int) or not 1 <= extra_working_days <= 60:
        raise InvalidInput("延期天数须为1至60个工作日", "extra_working_days must be 1..60", details={"field": "extra_working_days"})
    reason = _text(reason, "reason", "延期理由")
    if case.extension_requests.filter(state=ExtensionState.PENDING).exists():
        raise IllegalTransition("已有待审批的延期申请", "An extension request is already pending")
    request = ExtensionRequest.objects.create(case=case, requested_by=actor, requested_at=_now(), extra_working_days=extra_working_days, reason=reason)
    _record(case, actor, "request_extension", case.status, note=reason, data={"extra_working_days": extra_working_days})
    return request


@transaction.atomic
def decide_extension(*, actor, case: Case, approve: bool, note: str = "") -> Case:
    """Approve or refuse the pending extension request; an approval moves the deadline."""
    from .. import sla

    case = _locked(case)
    _require(actor, "decide_extension", case, allowed_from=OPEN_STATUSES)
    request = case.extension_requests.filter(state=ExtensionState.PENDING).first()
    if request is None:
        raise IllegalTransition("没有待审批的延期申请", "No pending extension request")
    latest = case.assignments.order_by("-dispatched_at", "-id").first()
    deciding_level = latest.from_region if latest is not None else case.owner_region
    if not actor.is_superuser and not (actor.role == Role.DISPATCHER and _in_path(actor, deciding_level.path)):
        raise Forbidden("延期由派遣层级的调度员审批", "Extensions are decided by the dispatching level", code="not_command_level")
    now = _now()
    request.state = ExtensionState.APPROVED if approve else ExtensionState.REFUSED
    request.decided_by, request.decided_at, request.decision_note = actor, now, note
    request.save()
    data = {"approved": bool(approve), "extra_working_days": request.extra_working_days}
    if approve and case.due_at is not None:
        start = case.accepted_at or now
        case.due_at = sla.add_working_time(case.due_at, days=request.extra_working_days)
        case.warn_at = start + (case.due_at - start) * settings.GRIDGOV["SLA_WARNING_SHARE"]
        case.sla_state = _sla_state_at(case, now)
        data["due_at"] = case.due_at.isoformat()
    case.save()
    _record(case, actor, "decide_extension", case.status, note=note, data=data)
    return case


@transaction.atomic
def submit_feedback(*, actor, case: Case, result: str, photos=None) -> Case:
    """Report the handling result (反馈) with photos; the grid worker verifies next."""
    case = _locked(case)
    _require(actor, "feedback", case, allowed_from={S.IN_HANDLING})
    _require_owner_department(actor, case)
    result = _text(result, "result", "处置结果")
    photos = validate_photos(photos)
    case.result, case.handled_at = result, _now()
    _set_status(case, S.HANDLED)
    case.save()
    _save_photos(case, actor, photos, PhotoKind.FEEDBACK)
    _record(case, actor, "feedback", S.IN_HANDLING, note=result)
    return case


@transaction.atomic
def verify_case(*, actor, case: Case, passed: bool, note: str = "", photos=None) -> Case:
    """On-site verification (核查): pass closes the case, fail sends it back as rework (返工)."""
    case = _locked(case)
    _require(actor, "verify", case, allowed_from={S.HANDLED})
    if not actor.is_superuser and not _in_path(actor, case.scope_path):
        raise Forbidden("只能核查本网格的案件", "You can verify cases in your own territory only", code="not_territory")
    photos = validate_photos(photos)
    now = _now()
    if passed:
        _close(case, Closure.RESOLVED, now)
    else:
        note = _text(note, "note", "核查不通过的原因")
        case.rework_count += 1
        _set_status(case, S.IN_HANDLING)
    case.save()
    _save_photos(case, actor, photos, PhotoKind.VERIFY)
    _record(case, actor, "verify", S.HANDLED, note=note, data={"passed": bool(passed)})
    if not passed:
        _notify(_owner_users(case), case, "rework", f"案件 {case.number} 核查未通过，需返工：{note}")
    return case


@transaction.atomic
def close_case(*, actor, case: Case, closure: str, note: str = "", responsible_party: str = "") -> Case:
    """Close a case (结案) honestly: resolved (after handling, when no verification is due),
    not resolvable (with the reason) or not ours (naming the responsible party)."""
    case = _locked(case)
    _require(actor, "close", case, allowed_from={S.HANDLED, S.ACCEPTED, S.RETURNED, S.LONG_STANDING})
    _require_command(actor, case)
    if closure == Closure.RESOLVED:
        if case.status != S.HANDLED:
            raise IllegalTransition("只有已处置的案件可以按“已解决”结案", "Only handled cases close as resolved")
        if case.category and case.category.verification_required:
            raise IllegalTransition("该分类需经网格员核查后结案", "This category must be verified on site first", code="verification_required")
    elif closure == Closure.NOT_RESOLVABLE:
        note = _text(note, "note", "无法解决的原因")
    elif closure == Closure.NOT_OURS:
        responsible_party = _text(responsible_party, "responsible_party", "责任主体", max_length=200)
        case.responsible_party = responsible_party
    else:
        raise InvalidInput("结案类型无效", "Unknown closure", details={"field": "closure", "allowed": [Closure.RESOLVED, Closure.NOT_RESOLVABLE, Closure.NOT_OURS]})
    from_status = case.status
    case.closure_note = note
    _close(case, closure, _now())
    case.save()
    _record(case, actor, "close", from_status, note=note, data={"closure": closure, "responsible_party": responsible_party})
    return case


