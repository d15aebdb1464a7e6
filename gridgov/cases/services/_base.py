"""What every case transition shares: the checks, the timeline + audit record, the clock."""



from django.utils import timezone

from gridgov.accounts.models import Role
from gridgov.accounts.permissions import can
from gridgov.accounts.scoping import in_territory
from gridgov.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from gridgov.fastsql import insert_one
from gridgov.places.models import Region, RegionLevel
from gridgov.privacy.services import audit

from ..choices import OPEN_STATUSES, SlaState, Status
from ..models import (
    Assignment,
    Case,
    CasePhoto,
    Notification,
    TimelineEntry,
)

S = Status
INTAKE_LEVEL = RegionLevel.STREET


# --- helpers ---------------------------------------------------------------------------


def _now():
    return timezone.now()


def _locked(case: Case) -> Case:
    """Re-read the case under a row lock so concurrent transitions serialise."""
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("region", "owner_region", "category")
        # Boundaries are never needed to move a case and can be large.
        .defer("region__geometry", "owner_region__geometry")
        .get(pk=case.pk)
    )


def _in_path(user, path: str) -> bool:
    """Is the path inside the territory of any of the user's posts?"""
    return in_territory(user, path)


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
    entry = TimelineEntry(
        case=case, at=_now(), actor=actor if getattr(actor, "pk", None) else None, action=action,
        from_status=from_status, to_status=case.status, note=note, data=data, public=public,
    )
    insert_one(entry)
    audit(actor=actor, action=f"case.{action}", obj=case, data={"number": case.number, "from": from_status, "to": case.status, **data})
    return entry


def _set_status(case: Case, status: str) -> None:
    case.status = status
    case.is_open = status in OPEN_STATUSES


def _start_clock(case: Case, start) -> None:
    from .. import sla

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


def _ancestors_at(region: Region, levels) -> dict:
    """The region or its ancestors at these levels, {level: region}, in one query."""
    from gridgov.places.locate import fresh_index

    found = {region.level: region} if region.level in levels else {}
    wanted = [lv for lv in levels if lv not in found]
    if wanted:
        parts = region.path.split(".")[:-1]
        prefixes = [".".join(parts[: i + 1]) + "." for i in range(len(parts))]
        # The regions above any grid come with the spatial index when it is current.
        index = fresh_index()
        for node in (index.region(p) for p in prefixes) if index is not None else ():
            if node is not None and node.level in wanted:
                found[node.level] = node
        if any(lv not in found for lv in wanted):
            for node in Region.objects.filter(path__in=prefixes, level__in=wanted).defer("geometry"):
                found[node.level] = node
    return found


def _ancestor_at(region: Region, level: str) -> Region:
    """The region's ancestor (or itself) at a level, in one query on the materialised path."""
    if region.level == level:
        return region
    parts = region.path.split(".")[:-1]
    prefixes = [".".join(parts[: i + 1]) + "." for i in range(len(parts))]
    return Region.objects.filter(path__in=prefixes, level=level).defer("geometry").first() or region


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


