"""The case loop (数字城管 seven steps and its side paths). Every transition is one function
here: it checks the actor's right, validates input, changes state, and writes a timeline
entry and an audit record in one transaction; an illegal transition raises
`IllegalTransition` and writes nothing.

    report → accept | reject | merge → dispatch → start → feedback → verify → close → evaluate
    side paths: self_resolve, return → dispatch, extension, supervise, escalate, hang/resume, reopen
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridgov.accounts.models import Role
from gridgov.accounts.permissions import can
from gridgov.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from gridgov.places.models import Grid, Region, RegionLevel
from gridgov.privacy.services import audit

from . import numbering, routing
from .choices import OPEN_STATUSES, Channel, Closure, ExtensionState, PhotoKind, SlaState, Status, Urgency
from .models import (
    Assignment,
    Case,
    CaseFollower,
    CasePhoto,
    Category,
    Department,
    ExtensionRequest,
    Notification,
    TimelineEntry,
)
from .photos import validate_photos

S = Status
INTAKE_LEVEL = RegionLevel.STREET


# --- helpers ---------------------------------------------------------------------------


def _now():
    return timezone.now()


def _locked(case: Case) -> Case:
    """Re-read the case under a row lock so concurrent transitions serialise."""
    return Case.objects.select_for_update(of=("self",)).select_related("region", "owner_region", "category").get(pk=case.pk)


def _in_path(user, path: str) -> bool:
    scope = user.scope_path
    return bool(scope) and path.startswith(scope)


def _require(actor, action: str, case: Case | None = None, *, allowed_from=None) -> None:
    """Role right, state, and jurisdiction: the three checks every transition makes."""
    if actor is None:
        raise Forbidden("系统操作需要指定操作人", "An actor is required", code="actor_required")
    if not can(actor, action):
        raise Forbidden(f"您的角色无权执行“{ACTION_LABELS.get(action, action)}”", f"Your role may not {action}", code="role_forbidden")
    if case is None:
        return
    if allowed_from is not None and case.status not in allowed_from:
        raise IllegalTransition(
            f"案件当前状态为“{case.get_status_display()}”，不能执行“{ACTION_LABELS.get(action, action)}”",
            f"Cannot {action} a case in status {case.status}",
            details={"status": case.status, "action": action},
        )
    if actor.is_superuser:
        return
    if not Case.objects.restrict(actor).filter(pk=case.pk).exists():
        raise NotFound("案件不存在", "Case not found")


def _require_command(actor, case: Case) -> None:
    """Command actions (accept, dispatch, close…) belong to the level that holds the case."""
    if actor.is_superuser:
        return
    if actor.role == Role.COMMUNITY_STAFF or actor.role == Role.DISPATCHER:
        if _in_path(actor, case.owner_region.path):
            return
    raise Forbidden("案件当前不在您的指挥层级", "The case is held by another level", code="not_command_level")


def _require_owner_department(actor, case: Case) -> None:
    if actor.is_superuser:
        return
    if case.owner_department_id and actor.role == Role.DEPARTMENT_HANDLER and actor.department_id == case.owner_department_id:
        return
    if case.owner_department_id is None and actor.role == Role.COMMUNITY_STAFF and _in_path(actor, case.owner_region.path):
        return
    raise Forbidden("案件未派遣给您所在的部门", "The case is not assigned to your department", code="not_assignee")


def _record(case: Case, actor, action: str, from_status: str, *, note: str = "", data: dict | None = None, public: bool = True) -> TimelineEntry:
    data = data or {}
    entry = TimelineEntry.objects.create(
        case=case, at=_now(), actor=actor if getattr(actor, "pk", None) else None, action=action,
        from_status=from_status, to_status=case.status, note=note, data=data, public=public,
    )
    audit(actor=actor, action=f"case.{action}", obj=case, data={"number": case.number, "from": from_status, "to": case.status, **data})
    return entry


def _set_status(case: Case, status: str) -> None:
    case.status = status
    case.is_open = status in OPEN_STATUSES


def _start_clock(case: Case, start) -> None:
    from . import sla

    amount, unit = case.category.limit_for(case.urgency)
    case.due_at, case.warn_at = sla.compute_deadlines(start, amount, unit)
    case.sla_state = _sla_state_at(case, start)


def _sla_state_at(case: Case, now) -> str:
    if case.due_at is None:
        return SlaState.NONE
    if now >= case.due_at:
        return SlaState.OVERDUE
    if case.warn_at and now >= case.warn_at:
        return SlaState.WARNING
    return SlaState.NORMAL


def _close(case: Case, closure: str, now) -> None:
    _set_status(case, S.CLOSED)
    case.closure = closure
    case.closed_at = now
    case.closed_on_time = case.due_at is None or now <= case.due_at
    _finish_assignment(case, now)
    _notify_followers(case, "closed", f"您关注的案件 {case.number} 已结案：{case.get_closure_display()}")


def _finish_assignment(case: Case, now) -> None:
    Assignment.objects.filter(case=case, finished_at__isnull=True, returned_at__isnull=True).update(finished_at=now)


def _notify(users, case: Case, kind: str, message: str) -> None:
    Notification.objects.bulk_create(
        [Notification(recipient=u, case=case, kind=kind, message=message[:300]) for u in users if u is not None]
    )


def _notify_followers(case: Case, kind: str, message: str) -> None:
    users = {f.user for f in case.followers.select_related("user") if f.user_id}
    if case.reporter_id:
        users.add(case.reporter)
    _notify(users, case, kind, message)


def _owner_users(case: Case):
    from gridgov.accounts.models import User

    if case.owner_department_id:
        return list(User.objects.filter(department_id=case.owner_department_id, is_active=True))
    return list(User.objects.filter(region_id=case.owner_region_id, role__in=[Role.DISPATCHER, Role.COMMUNITY_STAFF], is_active=True))


def _text(value, field: str, label: str, *, required: bool = True, max_length: int = 2000) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"请填写{label}", f"{field} is required", details={"field": field})
    if len(value) > max_length:
        raise InvalidInput(f"{label}不能超过{max_length}个字", f"{field} is too long", details={"field": field})
    return value


def _ancestor_at(region: Region, level: str) -> Region:
    """The region's ancestor (or itself) at a level, in one query on the materialised path."""
    if region.level == level:
        return region
    parts = region.path.split(".")[:-1]
    prefixes = [".".join(parts[: i + 1]) + "." for i in range(len(parts))]
    return Region.objects.filter(path__in=prefixes, level=level).first() or region


def _save_photos(case: Case, actor, photos, kind: str) -> None:
    for image in photos or []:
        CasePhoto.objects.create(case=case, kind=kind, image=image, uploaded_by=actor if getattr(actor, "pk", None) else None)


ACTION_LABELS = {
    "report": "上报", "accept": "立案", "reject": "不予立案", "merge": "合并重复件", "dispatch": "派遣",
    "start": "签收", "return": "退回", "request_extension": "申请延期", "decide_extension": "审批延期",
    "feedback": "处置反馈", "verify": "核查", "close": "结案", "self_resolve": "自办结", "supervise": "督办",
    "escalate": "上报上级", "hang": "挂账", "resume": "恢复办理", "evaluate": "评价", "callback": "回访",
    "reopen": "重新打开", "correct_location": "更正位置",
}


# --- intake ----------------------------------------------------------------------------


def _place(*, lat, lon, crs, grid, region):
    """Resolve where a case is: (lat, lon in WGS-84, grid or None, community region)."""
    if grid is not None and not isinstance(grid, Grid):
        grid = Grid.objects.select_related("region").filter(code=str(grid)).first()
        if grid is None:
            raise InvalidInput("网格编码不存在", "Unknown grid code", details={"field": "grid"})
    if region is not None and not isinstance(region, Region):
        region = Region.objects.filter(code=str(region)).first()
        if region is None:
            raise InvalidInput("区划代码不存在", "Unknown region code", details={"field": "region"})
    if (lat is None) != (lon is None):
        raise InvalidInput("经纬度必须同时提供", "lat and lon go together", details={"field": "lat"})
    if lat is not None:
        from gridgov.places import geo
        from gridgov.places.locate import locate

        lat, lon = geo.to_wgs84(float(lat), float(lon), crs or "wgs84")
        if grid is None:
            result = locate(lat, lon)
            if result.found:
                grid = Grid.objects.select_related("region").get(pk=result.grid_id)
    if grid is not None:
        return lat, lon, grid, grid.region
    if region is not None:
        return lat, lon, None, region
    if lat is not None:
        raise InvalidInput("该位置不在任何网格内，请核对位置或指定所属区划", "The location lies outside every grid", code="outside_grids")
    raise InvalidInput("请提供位置（经纬度）、网格或所属区划", "A location, a grid or a region is required", details={"field": "lat"})


@transaction.atomic
def report_case(
    *, actor, channel: str, title: str, description: str = "", category: Category | None = None,
    urgency: str = Urgency.NORMAL, lat: float | None = None, lon: float | None = None, crs: str = "wgs84",
    address: str = "", grid=None, region=None, reporter_name: str = "", reporter_phone: str = "",
    public_anonymous: bool = True, photos=None, reported_at=None,
) -> Case:
    """Report a case (上报); it is located to its grid and waits for acceptance at the street."""
    if actor is not None:
        _require(actor, "report")
    if channel not in Channel.values:
        raise InvalidInput("来源渠道无效", "Unknown channel", details={"field": "channel", "allowed": Channel.values})
    if urgency not in Urgency.values:
        raise InvalidInput("紧急程度无效", "Unknown urgency", details={"field": "urgency", "allowed": Urgency.values})
    title = _text(title, "title", "标题", max_length=200)
    description = _text(description, "description", "描述", required=False, max_length=5000)
    address = _text(address, "address", "地址", required=False, max_length=255)
    if category is not None and not category.active:
        raise InvalidInput("该分类已停用", "Category is inactive", details={"field": "category"})
    photos = validate_photos(photos)
    lat, lon, grid, region = _place(lat=lat, lon=lon, crs=crs, grid=grid, region=region)
    now = reported_at or _now()
    district = _ancestor_at(region, RegionLevel.DISTRICT)
    number = numbering.next_number(district.code[:6], timezone.localdate(now))
    case = Case(
        number=number, channel=channel, title=title, description=description, category=category, urgency=urgency,
        lat=lat, lon=lon, address=address, grid=grid, region=region,
        scope_path=grid.path if grid else region.path,
        reporter=actor if getattr(actor, "pk", None) else None,
        reporter_name=_text(reporter_name, "reporter_name", "姓名", required=False, max_length=60)
        or (getattr(actor, "display_name", "") or ""),
        reporter_phone=_text(reporter_phone, "reporter_phone", "电话", required=False, max_length=20)
        or (getattr(actor, "phone", "") or ""),
        reporter_public_anonymous=public_anonymous,
        owner_region=_ancestor_at(region, INTAKE_LEVEL), reported_at=now,
    )
    _set_status(case, S.REPORTED)
    case.save()
    _save_photos(case, actor, photos, PhotoKind.REPORT)
    _record(case, actor, "report", "", data={"channel": channel, "grid": grid.code if grid else None})
    return case


@transaction.atomic
def accept_case(*, actor, case: Case, category: Category | None = None, urgency: str | None = None, note: str = "") -> Case:
    """Accept a reported case (立案): it gets a category, a case type and its deadline."""
    case = _locked(case)
    _require(actor, "accept", case, allowed_from={S.REPORTED})
    _require_command(actor, case)
    if category is not None:
        case.category = category
    if case.category is None:
        raise InvalidInput("立案前必须选择事件分类", "A category is required to accept", details={"field": "category"})
    if urgency is not None:
        if urgency not in Urgency.values:
            raise InvalidInput("紧急程度无效", "Unknown urgency", details={"field": "urgency"})
        case.urgency = urgency
    now = _now()
    case.accepted_at = now
    case.case_type = case.category.case_type
    _start_clock(case, now)
    _set_status(case, S.ACCEPTED)
    case.save()
    _record(case, actor, "accept", S.REPORTED, note=note, data={"category": case.category.code, "urgency": case.urgency})
    return case


@transaction.atomic
def reject_case(*, actor, case: Case, reason: str) -> Case:
    """Refuse to open a case (不予立案), with the reason the reporter will see."""
    case = _locked(case)
    _require(actor, "reject", case, allowed_from={S.REPORTED})
    _require_command(actor, case)
    reason = _text(reason, "reason", "不予立案理由")
    now = _now()
    _set_status(case, S.REJECTED)
    case.closure, case.closure_note, case.closed_at = Closure.REJECTED, reason, now
    case.save()
    _record(case, actor, "reject", S.REPORTED, note=reason)
    _notify_followers(case, "rejected", f"您上报的案件 {case.number} 不予立案：{reason}")
    return case


@transaction.atomic
def merge_case(*, actor, case: Case, into: Case, note: str = "") -> Case:
    """Merge a duplicate into a surviving case (合并): its reporters follow the survivor."""
    case = _locked(case)
    _require(actor, "merge", case, allowed_from={S.REPORTED, S.ACCEPTED})
    _require_command(actor, case)
    survivor = _locked(into)
    if survivor.pk == case.pk:
        raise InvalidInput("不能与自身合并", "Cannot merge a case into itself", details={"field": "into"})
    if not survivor.is_open:
        raise IllegalTransition("目标案件已办结，不能合并", "The surviving case is closed", details={"into": survivor.number})
    if not Case.objects.restrict(actor).filter(pk=survivor.pk).exists():
        raise NotFound("目标案件不存在", "Surviving case not found")
    from_status = case.status
    now = _now()
    _set_status(case, S.MERGED)
    case.closure, case.duplicate_of, case.closed_at = Closure.DUPLICATE, survivor, now
    case.due_at = case.warn_at = None
    case.sla_state = SlaState.NONE
    case.save()
    if case.reporter_id or case.reporter_name or case.reporter_phone:
        CaseFollower.objects.create(case=survivor, user=case.reporter, name=case.reporter_name, phone=case.reporter_phone, origin=case)
    CaseFollower.objects.filter(case=case).exclude(origin=case).update(case=survivor)
    _record(case, actor, "merge", from_status, note=note, data={"into": survivor.number})
    _record(survivor, actor, "merged_in", survivor.status, data={"duplicate": case.number}, public=False)
    return case


@transaction.atomic
def self_resolve_case(*, actor, case: Case, result: str, before_photos, after_photos) -> Case:
    """Resolve a small case on the spot (自办结, 小事不出网格), with before/after photos."""
    case = _locked(case)
    _require(actor, "self_resolve", case, allowed_from={S.REPORTED})
    if case.category is None or not case.category.self_resolvable:
        raise IllegalTransition("该分类不允许网格员自办结", "This category may not be self-resolved", code="not_self_resolvable")
    before, after = validate_photos(before_photos), validate_photos(after_photos)
    if not before or not after:
        raise InvalidInput("自办结需要处置前和处置后照片", "Before and after photos are required", details={"field": "photos"})
    result = _text(result, "result", "处置结果")
    now = _now()
    case.accepted_at = case.dispatched_at = case.handled_at = now
    case.case_type = case.category.case_type
    case.self_resolved, case.result = True, result
    case.owner_user = actor
    _close(case, Closure.RESOLVED, now)
    case.save()
    _save_photos(case, actor, before, PhotoKind.BEFORE)
    _save_photos(case, actor, after, PhotoKind.AFTER)
    _record(case, actor, "self_resolve", S.REPORTED, note=result)
    return case


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
    from . import sla

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
