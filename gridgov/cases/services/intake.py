"""Intake: report, accept (立案), reject, merge duplicates, self-resolve on the spot (自办结)."""


from django.db import transaction
from django.utils import timezone

from gridgov.errors import IllegalTransition, InvalidInput, NotFound
from gridgov.fastsql import insert_one
from gridgov.places.models import Grid, Region, RegionLevel
from gridgov.privacy.validators import InvalidIdentifier, normalize_phone

from .. import numbering
from ..choices import Channel, Closure, PhotoKind, SlaState, Urgency
from ..models import (
    Case,
    CaseFollower,
    Category,
)
from ..photos import validate_photos
from ..signals import case_reported
from ._base import (
    INTAKE_LEVEL,
    S,
    _ancestors_at,
    _close,
    _locked,
    _notify_followers,
    _now,
    _record,
    _require,
    _require_command,
    _save_photos,
    _set_status,
    _start_clock,
    _text,
)

# --- intake ----------------------------------------------------------------------------


def _grids():
    # Intake needs the grid's code, path and community, never the polygons.
    return Grid.objects.select_related("region").defer("geometry", "region__geometry")


def _place(*, lat, lon, crs, grid, region):
    """Resolve where a case is: (lat, lon in WGS-84, grid or None, community region)."""
    if grid is not None and not isinstance(grid, Grid):
        grid = _grids().filter(code=str(grid)).first()
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
        from gridgov.places.locate import locate_grid

        lat, lon = geo.to_wgs84(float(lat), float(lon), crs or "wgs84")
        if grid is None:
            grid = locate_grid(lat, lon)  # read with the index: no query
    if grid is not None:
        return lat, lon, grid, grid.region
    if region is not None:
        return lat, lon, None, region
    if lat is not None:
        raise InvalidInput("该位置不在任何网格内，请核对位置或指定所属区划", "The location lies outside every grid", code="outside_grids")
    raise InvalidInput("请提供位置（经纬度）、网格或所属区划", "A location, a grid or a region is required", details={"field": "lat"})


def _phone(value: str) -> str:
    """A mainland number in national form; it is stored encrypted and blind-indexed."""
    try:
        return normalize_phone(value)
    except InvalidIdentifier as exc:
        raise InvalidInput(exc.message_zh, exc.message_en, details={"field": "reporter_phone"}) from None


def report_case(
    *, actor, channel: str, title: str, description: str = "", category: Category | None = None,
    urgency: str = Urgency.NORMAL, lat: float | None = None, lon: float | None = None, crs: str = "wgs84",
    address: str = "", grid=None, region=None, reporter_name: str = "", reporter_phone: str = "",
    public_anonymous: bool = True, photos=None, reported_at=None, on_created=None,
) -> Case:
    """Report a case (上报); it is located to its grid and waits for acceptance at the street.

    Everything is checked before anything is written. The number is taken first in its own
    short statement, so the district's daily counter row is never locked while the case
    is written (a failed write leaves a gap in the numbers, never a duplicate).
    `on_created(case)` runs inside the case's transaction (the idempotency key's row)."""
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
    reporter_name = _text(reporter_name, "reporter_name", "姓名", required=False, max_length=60) or (
        getattr(actor, "display_name", "") or ""
    )
    reporter_phone = _phone(_text(reporter_phone, "reporter_phone", "电话", required=False, max_length=20)) or (
        getattr(actor, "phone", "") or ""
    )
    photos = validate_photos(photos)
    lat, lon, grid, region = _place(lat=lat, lon=lon, crs=crs, grid=grid, region=region)
    now = reported_at or _now()
    above = _ancestors_at(region, (RegionLevel.DISTRICT, INTAKE_LEVEL))
    district = above.get(RegionLevel.DISTRICT, region)
    number = numbering.next_number(district.code[:6], timezone.localdate(now))
    with transaction.atomic():
        case = _create_reported(
            actor=actor, photos=photos, number=number, channel=channel, title=title, description=description,
            category=category, urgency=urgency, lat=lat, lon=lon, address=address, grid=grid, region=region,
            reporter_name=reporter_name, reporter_phone=reporter_phone, public_anonymous=public_anonymous,
            owner_region=above.get(INTAKE_LEVEL, region), now=now,
        )
        if on_created is not None:
            on_created(case)
        return case


def _create_reported(*, actor, photos, number, channel, title, description, category, urgency, lat, lon, address,
                     grid, region, reporter_name, reporter_phone, public_anonymous, owner_region, now) -> Case:
    case = Case(
        number=number, channel=channel, title=title, description=description, category=category, urgency=urgency,
        lat=lat, lon=lon, address=address, grid=grid, region=region,
        scope_path=grid.path if grid else region.path,
        reporter=actor if getattr(actor, "pk", None) else None,
        reporter_name=reporter_name, reporter_phone=reporter_phone,
        reporter_public_anonymous=public_anonymous,
        owner_region=owner_region, reported_at=now,
    )
    _set_status(case, S.REPORTED)
    insert_one(case)
    _save_photos(case, actor, photos, PhotoKind.REPORT)
    entry = _record(case, actor, "report", "", data={"channel": channel, "grid": grid.code if grid else None})
    case._new_timeline = [entry]  # the answer shows it without reading it back
    case_reported.send(sender=Case, case=case)
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
        CaseFollower.objects.create(case=survivor, user=case.reporter, name=case.reporter_name, phone=case.reporter_phone,
                                    origin=case, pi_subject_id=case.pi_subject_id)  # same person, same data key
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


