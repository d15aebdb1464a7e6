"""Insight API: hot spots (ranked list and a GeoJSON map layer) and early warnings (list,
counts for the dashboard, detail, acknowledge, close, turn into a case).

Handlers are thin: check the role (`insight.permissions`), read through the jurisdiction
scope (a warning outside it answers 404), call `hotspots` or `services`.
"""

from datetime import datetime
from typing import Literal

from django.db.models import Count
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from gridgov.cases.api import case_summary
from gridgov.cases.models import Category
from gridgov.cases.schemas import ERRORS, Clean, In, body_openapi, parse_body
from gridgov.errors import Forbidden, InvalidInput, NotFound
from gridgov.places.models import Grid, Region

from . import hotspots as hot
from . import services
from .models import EarlyWarning, RuleKind, Severity, WarningRule, WarningState
from .permissions import may

router = Router(tags=["insight"])

SeverityCode = Literal[tuple(Severity.values)]  # type: ignore[valid-type]
KindCode = Literal[tuple(RuleKind.values)]  # type: ignore[valid-type]
StateCode = Literal[tuple(WarningState.values)]  # type: ignore[valid-type]


# --- shapes ----------------------------------------------------------------------------


class RefOut(Schema):
    code: str
    name: str


class CaseRefOut(Schema):
    number: str
    title: str
    status: str
    reported_at: datetime
    address: str
    lat: float | None
    lon: float | None


class HotspotOut(Schema):
    grid: RefOut
    region: RefOut
    category: RefOut | None
    count: int
    previous: int = Field(description="同样长度的前一时段的件数")
    change: float | None = Field(description="相对前一时段的变化 (0.5 = +50%)")
    cases: list[CaseRefOut]


class HotspotListOut(Schema):
    since: datetime
    until: datetime
    days: int
    cases: int
    ungridded_cases: int
    hotspots: int
    source: str = Field(description="snapshot: 最近一次扫描的快照 (默认窗口); counted: 即时统计")
    items: list[HotspotOut]


class HotspotFilters(Clean):
    days: int | None = Field(None, ge=1, le=366, description="时间窗口天数 (默认 30)")
    at: datetime | None = Field(None, description="窗口结束时间 (默认现在)")
    category: str | None = Field(None, max_length=20, description="分类编码 (含下级分类)")
    region: str | None = Field(None, max_length=12, description="区划代码: 只看该区划及以下")
    grid: str | None = Field(None, max_length=24, description="网格编码")
    min_cases: int | None = Field(None, ge=1, le=100_000)
    limit: int = Field(20, ge=1, le=100)


class MapFilters(Clean):
    days: int | None = Field(None, ge=1, le=366)
    at: datetime | None = None
    category: str | None = Field(None, max_length=20)
    region: str | None = Field(None, max_length=12)
    geometry: Literal["point", "polygon"] = Field("point", description="point: 网格中心点; polygon: 网格边界")


class WarningOut(Schema):
    id: int
    rule: RefOut
    kind: str
    kind_label: str
    severity: str
    severity_label: str
    state: str
    state_label: str
    title: str
    evidence: dict
    region: RefOut
    grid: RefOut | None
    category: RefOut | None
    owner_region: RefOut
    owner_department: RefOut | None
    raised_at: datetime
    last_seen_at: datetime
    fire_count: int
    acknowledged_at: datetime | None
    closed_at: datetime | None
    note: str
    case: str | None = Field(description="转立案件编号")


class WarningListOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[WarningOut]


class WarningFilters(Clean):
    state: list[StateCode] = Field([], description="状态 (可重复)")
    severity: list[SeverityCode] = Field([], description="严重程度 (可重复)")
    kind: KindCode | None = None
    region: str | None = Field(None, max_length=12, description="区划代码: 只看该区划及以下")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10_000_000)


class SummaryOut(Schema):
    total: int
    open: int
    by_state: dict[str, int]
    by_severity: dict[str, int] = Field(description="未关闭预警按严重程度")
    by_severity_state: dict[str, dict[str, int]]
    by_kind: dict[str, int] = Field(description="未关闭预警按规则类型")


class NoteIn(In):
    note: str = Field("", max_length=2000)


class ToCaseIn(In):
    title: str = Field("", max_length=200, description="案件标题 (默认用预警标题)")
    category: str | None = Field(None, max_length=20, description="分类编码 (默认用预警的分类)")
    note: str = Field("", max_length=2000)


class ToCaseOut(Schema):
    warning: WarningOut
    case: dict


class RuleOut(Schema):
    code: str
    name: str
    kind: str
    kind_label: str
    enabled: bool
    params: dict


# --- helpers ---------------------------------------------------------------------------


def _ref(obj) -> dict | None:
    return {"code": obj.code, "name": obj.name} if obj is not None else None


def _need(request, action: str) -> None:
    if not may(request.auth, action):
        raise Forbidden("您的角色无权查看预警与热点", "Your role may not use insight", code="role_forbidden")


def _category(code: str | None) -> Category | None:
    if code is None:
        return None
    category = Category.objects.filter(code=code).first()
    if category is None:
        raise InvalidInput("分类编码不存在", "Unknown category code", details={"field": "category"})
    return category


def _within(region: str | None, grid: str | None = None) -> str | None:
    if grid is not None:
        path = Grid.objects.filter(code=grid).values_list("path", flat=True).first()
        if path is None:
            raise InvalidInput("网格编码不存在", "Unknown grid code", details={"field": "grid"})
        return path
    if region is not None:
        path = Region.objects.filter(code=region).order_by("code_system").values_list("path", flat=True).first()
        if path is None:
            raise InvalidInput("区划代码不存在", "Unknown region code", details={"field": "region"})
        return path
    return None


def _at(value: datetime | None) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


WARNING_RELATED = ("rule", "region", "grid", "category", "owner_region", "owner_department", "case")
WARNING_DEFERRED = ("region__geometry", "grid__geometry", "owner_region__geometry")


def warning_out(w: EarlyWarning) -> dict:
    return {
        "id": w.pk, "rule": _ref(w.rule), "kind": w.kind, "kind_label": str(w.get_kind_display()), "severity": w.severity,
        "severity_label": str(w.get_severity_display()), "state": w.state, "state_label": str(w.get_state_display()),
        "title": w.title, "evidence": w.evidence, "region": _ref(w.region), "grid": _ref(w.grid), "category": _ref(w.category),
        "owner_region": _ref(w.owner_region), "owner_department": _ref(w.owner_department), "raised_at": w.raised_at,
        "last_seen_at": w.last_seen_at, "fire_count": w.fire_count, "acknowledged_at": w.acknowledged_at,
        "closed_at": w.closed_at, "note": w.note, "case": w.case.number if w.case_id else None,
    }


def _warnings(request):
    return EarlyWarning.objects.restrict(request.auth).select_related(*WARNING_RELATED).defer(*WARNING_DEFERRED)


def _warning(request, warning_id: int) -> EarlyWarning:
    warning = _warnings(request).filter(pk=warning_id).first() if may(request.auth, "view") else None
    if warning is None:
        raise NotFound("预警不存在", "Warning not found")
    return warning


# --- hot spots -------------------------------------------------------------------------


@router.get("/insight/hotspots", response={200: HotspotListOut, **ERRORS}, summary="热点排行 · Ranked hot spots")
def list_hotspots(request, filters: Query[HotspotFilters]):
    _need(request, "hotspots")
    items, totals = hot.hotspots(
        request.auth, days=filters.days, at=_at(filters.at), category=_category(filters.category),
        within=_within(filters.region, filters.grid), min_cases=filters.min_cases, limit=filters.limit,
    )
    return {
        **totals,
        "items": [
            {"grid": _ref(h.grid), "region": _ref(h.region), "category": _ref(h.category), "count": h.count,
             "previous": h.previous, "change": h.change,
             "cases": [{"number": c.number, "title": c.title, "status": c.status, "reported_at": c.reported_at,
                        "address": c.address, "lat": c.lat, "lon": c.lon} for c in h.cases]}
            for h in items
        ],
    }


@router.get("/insight/hotspots/map", response={200: dict, **ERRORS}, summary="热点地图图层 (GeoJSON) · Hot-spot map layer")
def hotspot_map(request, filters: Query[MapFilters]):
    _need(request, "hotspots")
    return hot.grid_layer(request.auth, days=filters.days, at=_at(filters.at), category=_category(filters.category),
                          within=_within(filters.region), geometry=filters.geometry)


# --- warnings --------------------------------------------------------------------------


@router.get("/insight/warnings", response={200: WarningListOut, **ERRORS}, summary="预警列表 · List warnings")
def list_warnings(request, filters: Query[WarningFilters]):
    _need(request, "view")
    qs = _warnings(request)
    if filters.state:
        qs = qs.filter(state__in=filters.state)
    if filters.severity:
        qs = qs.filter(severity__in=filters.severity)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    within = _within(filters.region)
    if within:
        qs = qs.filter(scope_path__startswith=within)
    total = qs.count()
    page = qs[filters.offset:filters.offset + filters.limit]
    return {"count": total, "limit": filters.limit, "offset": filters.offset, "items": [warning_out(w) for w in page]}


@router.get("/insight/warnings/summary", response={200: SummaryOut, **ERRORS}, summary="预警统计 · Warning counts")
def warning_summary(request, region: str | None = Query(None, max_length=12)):
    """Counts for the dashboard: by state, and the open (not closed) ones by severity and kind."""
    _need(request, "view")
    qs = EarlyWarning.objects.restrict(request.auth)
    within = _within(region)
    if within:
        qs = qs.filter(scope_path__startswith=within)
    grid = {s: {st: 0 for st in WarningState.values} for s in Severity.values}
    for row in qs.order_by().values("severity", "state").annotate(n=Count("id")):
        grid[row["severity"]][row["state"]] = row["n"]
    by_state = {st: sum(grid[s][st] for s in grid) for st in WarningState.values}
    by_kind = {k: 0 for k in RuleKind.values}
    for row in qs.exclude(state=WarningState.CLOSED).order_by().values("kind").annotate(n=Count("id")):
        by_kind[row["kind"]] = row["n"]
    return {
        "total": sum(by_state.values()), "open": by_state[WarningState.OPEN] + by_state[WarningState.ACKNOWLEDGED],
        "by_state": by_state, "by_severity": {s: grid[s][WarningState.OPEN] + grid[s][WarningState.ACKNOWLEDGED] for s in grid},
        "by_severity_state": grid, "by_kind": by_kind,
    }


@router.get("/insight/rules", response={200: list[RuleOut], **ERRORS}, summary="预警规则 · Warning rules")
def list_rules(request):
    _need(request, "view")
    return [{"code": r.code, "name": r.name, "kind": r.kind, "kind_label": str(r.get_kind_display()), "enabled": r.enabled,
             "params": r.params} for r in WarningRule.objects.order_by("code")]


@router.get("/insight/warnings/{warning_id}", response={200: WarningOut, **ERRORS}, summary="预警详情 · Warning detail")
def get_warning(request, warning_id: int):
    return warning_out(_warning(request, warning_id))


def _reload(request, warning: EarlyWarning) -> dict:
    return warning_out(_warnings(request).get(pk=warning.pk))


@router.post("/insight/warnings/{warning_id}/acknowledge", response={200: WarningOut, **ERRORS},
             openapi_extra=body_openapi(NoteIn), summary="确认预警 · Acknowledge a warning")
def acknowledge(request, warning_id: int):
    warning = _warning(request, warning_id)
    data, _ = parse_body(request, NoteIn)
    return _reload(request, services.acknowledge_warning(actor=request.auth, warning=warning, note=data.note))


@router.post("/insight/warnings/{warning_id}/close", response={200: WarningOut, **ERRORS},
             openapi_extra=body_openapi(NoteIn), summary="关闭预警 · Close a warning")
def close(request, warning_id: int):
    warning = _warning(request, warning_id)
    data, _ = parse_body(request, NoteIn)
    return _reload(request, services.close_warning(actor=request.auth, warning=warning, note=data.note))


@router.post("/insight/warnings/{warning_id}/to-case", response={201: ToCaseOut, **ERRORS},
             openapi_extra=body_openapi(ToCaseIn), summary="预警转立案 · Turn a warning into a case")
def to_case(request, warning_id: int):
    from ninja import Status

    warning = _warning(request, warning_id)
    data, _ = parse_body(request, ToCaseIn)
    category = _category(data.category)
    if category is not None and not category.active:
        raise InvalidInput("该分类已停用", "Category is inactive", details={"field": "category"})
    warning, case = services.warning_to_case(actor=request.auth, warning=warning, title=data.title, category=category,
                                             note=data.note)
    return Status(201, {"warning": _reload(request, warning), "case": case_summary(case)})
