"""Cases API: report, list, detail, every transition of the loop, and the reference data a
client needs (categories, departments, the matrix's gaps).

Handlers are thin: parse the input, find the case through `Case.objects.restrict(user)`
(a case outside the caller's jurisdiction answers 404 exactly like one that does not
exist), call the service, and answer the case's detail. Services decide rights, states
and jurisdiction and raise `DomainError`s, which `gridgov.api` turns into JSON errors.
"""

from datetime import datetime, time, timedelta

from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from gridgov.accounts.models import Role
from gridgov.accounts.permissions import can
from gridgov.errors import Forbidden, InvalidInput, NotFound
from gridgov.ops import idempotency
from gridgov.places.models import Grid, Region
from gridgov.privacy.masking import mask_phone  # noqa: F401  (kept importable from here)

from . import personal, routing
from . import photos as photo_files
from . import services as case_services
from .choices import Status as CaseStatus
from .lookups import category_by_code
from .models import Case, Category, Department
from .schemas import (
    ERRORS,
    AcceptIn,
    CaseDetailOut,
    CaseFilters,
    CaseListOut,
    CategoryOut,
    CloseIn,
    CorrectLocationIn,
    DecideExtensionIn,
    DepartmentOut,
    DispatchIn,
    EvaluateIn,
    ExtensionIn,
    GapOut,
    HangIn,
    MergeIn,
    NoteIn,
    ReasonIn,
    ReportIn,
    RequiredNoteIn,
    ResultIn,
    ReturnIn,
    RevealIn,
    RevealOut,
    VerifyIn,
    body_openapi,
    parse_body,
)

router = Router(tags=["cases"])

SUMMARY_RELATED = ("category", "grid", "region", "owner_region", "owner_department")
# The detail walks the region and category chains for the matrix suggestion.
REGION_CHAIN = ("region", "region__parent", "region__parent__parent", "region__parent__parent__parent")
DETAIL_RELATED = (*SUMMARY_RELATED, "duplicate_of", REGION_CHAIN[-1], "category__parent__parent")
# Boundaries can be large polygons; no case view shows them, so they are never read.
SUMMARY_DEFERRED = ("grid__geometry", "region__geometry", "owner_region__geometry")
DETAIL_DEFERRED = (*SUMMARY_DEFERRED, *(f"{path}__geometry" for path in REGION_CHAIN[1:]))


# --- presenting a case -----------------------------------------------------------------


def _ref(obj) -> dict | None:
    return {"code": obj.code, "name": obj.name} if obj is not None else None


def _is_staff(user) -> bool:
    return user.is_superuser or user.role != Role.RESIDENT


def case_summary(case: Case) -> dict:
    return {
        "number": case.number, "title": case.title, "status": case.status, "status_label": str(case.get_status_display()),
        "channel": case.channel, "urgency": case.urgency, "category": _ref(case.category), "grid": _ref(case.grid),
        "region": _ref(case.region), "owner_region": _ref(case.owner_region), "owner_department": _ref(case.owner_department),
        "address": case.address, "lat": case.lat, "lon": case.lon, "reported_at": case.reported_at, "due_at": case.due_at,
        "sla_state": case.sla_state, "is_open": case.is_open,
    }


def _reporter(case: Case, user) -> dict:
    # Masked at serialisation; who sees what is decided in `personal` (one place).
    return personal.reporter_view(case, user)


def case_detail(request, case: Case, *, new: bool = False, photos: bool = True) -> dict:
    """The case as `user` may see it: staff see every timeline entry and who acted, the
    public only the public entries, anonymously; whoever may dispatch also sees the
    matrix's suggestion. A `new` case has no assignments or extension requests yet, and
    no photos unless `photos`."""
    user = request.auth
    staff = _is_staff(user)
    written = case.__dict__.get("_new_timeline") if new else None  # entries the service just wrote
    if written is not None:
        timeline = written if staff else [e for e in written if e.public]
    else:
        timeline = case.timeline.select_related("actor") if staff else case.timeline.filter(public=True)
    suggestion = None
    if case.is_open and can(user, "dispatch"):
        s = routing.suggest_department(category=case.category, case_region=case.region, level=case.owner_region.level)
        suggestion = {"department": _ref(s.department), "source": s.source, "reason": s.reason}
    return {
        **case_summary(case),
        "description": case.description, "case_type": case.case_type, "closure": case.closure,
        "closure_note": case.closure_note, "responsible_party": case.responsible_party,
        "duplicate_of": case.duplicate_of.number if case.duplicate_of_id else None,
        "accepted_at": case.accepted_at, "dispatched_at": case.dispatched_at, "handled_at": case.handled_at,
        "closed_at": case.closed_at, "warn_at": case.warn_at, "closed_on_time": case.closed_on_time,
        "review_on": case.review_on, "rework_count": case.rework_count, "supervision_count": case.supervision_count,
        "escalation_count": case.escalation_count, "reopen_count": case.reopen_count,
        "self_resolved": case.self_resolved, "result": case.result, "rating": case.rating,
        "rating_comment": case.rating_comment, "evaluated_at": case.evaluated_at,
        "evaluated_by_callback": case.evaluated_by_callback,
        "reporter": _reporter(case, user),
        "timeline": [
            {"at": e.at, "action": e.action, "from_status": e.from_status, "to_status": e.to_status, "note": e.note,
             "data": e.data, "actor": (str(e.actor) if e.actor_id else None) if staff else None}
            for e in timeline
        ],
        "photos": [
            {"id": p.pk, "kind": p.kind, "url": photo_files.photo_url(request, case, p), "uploaded_at": p.uploaded_at}
            for p in (case.photos.order_by("id") if photos or not new else [])
        ],
        "assignments": [
            {"department": _ref(a.department), "region": _ref(a.region), "from_region": _ref(a.from_region),
             "dispatched_at": a.dispatched_at, "accepted_at": a.accepted_at, "returned_at": a.returned_at,
             "return_reason": a.return_reason, "finished_at": a.finished_at, "suggestion_source": a.suggestion_source,
             "followed_suggestion": a.followed_suggestion}
            for a in ([] if new else case.assignments.select_related("department", "region", "from_region")
                      .defer("region__geometry", "from_region__geometry"))
        ],
        "extension_requests": [
            {"requested_at": r.requested_at, "extra_working_days": r.extra_working_days, "reason": r.reason,
             "state": r.state, "decided_at": r.decided_at, "decision_note": r.decision_note}
            for r in case.extension_requests.order_by("requested_at", "id")
        ] if staff and not new else [],
        "suggestion": suggestion,
    }


def _detail(request, case: Case) -> dict:
    return case_detail(request, Case.objects.select_related(*DETAIL_RELATED).defer(*DETAIL_DEFERRED).get(pk=case.pk))


# --- looking things up -----------------------------------------------------------------


def _case(request, number: str) -> Case:
    """The case if the caller may see it; otherwise 404, exactly as if it did not exist."""
    case = Case.objects.restrict(request.auth).filter(number=number).first() if "\x00" not in number else None
    if case is None:
        raise NotFound("案件不存在", "Case not found")
    return case


def _category(code: str | None) -> Category | None:
    if code is None:
        return None
    category = category_by_code(code)
    if category is None:
        raise InvalidInput("分类编码不存在", "Unknown category code", details={"field": "category"})
    if not category.active:
        raise InvalidInput("该分类已停用", "Category is inactive", details={"field": "category"})
    return category


def _region(code: str | None, field: str = "region") -> Region | None:
    if code is None:
        return None
    region = Region.objects.filter(code=code).order_by("code_system").first()
    if region is None:
        raise InvalidInput("区划代码不存在", "Unknown region code", details={"field": field})
    return region


def _grid(code: str | None, field: str = "grid") -> Grid | None:
    if code is None:
        return None
    grid = Grid.objects.select_related("region__parent__parent__parent").filter(code=code).first()
    if grid is None:
        raise InvalidInput("网格编码不存在", "Unknown grid code", details={"field": field})
    return grid


def _department(code: str | None) -> Department | None:
    if code is None:
        return None
    department = Department.objects.select_related("region").filter(code=code).first()
    if department is None:
        raise InvalidInput("部门编码不存在", "Unknown department code", details={"field": "department"})
    return department


# --- report, list, detail --------------------------------------------------------------

PHOTOS = ("photos",)


# 429: gridgov.security's rate limit (GRIDGOV["RATE_LIMITS"]["case_report"]) answers before this handler.
@router.post("/cases", response={201: CaseDetailOut, **ERRORS, 429: ERRORS[422]},
             openapi_extra=body_openapi(ReportIn, files=PHOTOS),
             summary="上报案件 · Report a case")
def report_case(request):
    """With an `Idempotency-Key` header a retry answers the original 201 (or 409 for a
    different request under the same key) and creates nothing (`gridgov.ops.idempotency`)."""
    data, files = parse_body(request, ReportIn, files=PHOTOS)
    status, body = idempotency.once(request, "cases.report", data.model_dump(), files["photos"],
                                    lambda record: _report(request, data, files, record))
    return Status(status, body)


def _report(request, data, files, record) -> tuple[int, dict]:
    answer = {}

    def on_created(case):
        # Inside the case's transaction: the stored answer commits or vanishes with the case.
        answer["body"] = case_detail(request, case, new=True, photos=bool(files["photos"]))
        record(201, answer["body"])

    case = case_services.report_case(
        actor=request.auth, channel=data.channel, title=data.title, description=data.description,
        category=_category(data.category), urgency=data.urgency, lat=data.lat, lon=data.lon, crs=data.crs,
        address=data.address, grid=_grid(data.grid), region=_region(data.region), reporter_name=data.reporter_name,
        reporter_phone=data.reporter_phone, public_anonymous=data.public_anonymous, photos=files["photos"],
        on_created=on_created if record else None,
    )
    # The service's case already holds its category, grid and regions: no need to re-read it.
    return 201, answer.get("body") or case_detail(request, case, new=True, photos=bool(files["photos"]))


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _category_subtree_ids(code: str) -> list[int]:
    rows = list(Category.objects.values_list("id", "parent_id", "code"))
    root = next((pk for pk, _parent, c in rows if c == code), None)
    if root is None:
        raise InvalidInput("分类编码不存在", "Unknown category code", details={"field": "category"})
    children: dict[int, list[int]] = {}
    for pk, parent, _code in rows:
        children.setdefault(parent, []).append(pk)
    ids, stack = [], [root]
    while stack:
        node = stack.pop()
        ids.append(node)
        stack.extend(children.get(node, []))
    return ids


def _local_midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_cases(qs, f: CaseFilters):
    """Apply the list filters; an unknown code or status is a 422, not an empty page."""
    statuses = _split(f.status)
    unknown = [s for s in statuses if s not in CaseStatus.values]
    if unknown:
        raise InvalidInput("案件状态无效", "Unknown status", details={"field": "status", "unknown": unknown[:10],
                                                                     "allowed": CaseStatus.values})
    if statuses:
        qs = qs.filter(status__in=statuses)
    if f.category:
        qs = qs.filter(category_id__in=_category_subtree_ids(f.category))
    if f.grid:
        qs = qs.filter(scope_path__startswith=_grid(f.grid).path)
    if f.region:
        qs = qs.filter(scope_path__startswith=_region(f.region).path)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.overdue is not None:
        overdue = Q(is_open=True, due_at__lt=timezone.now())
        qs = qs.filter(overdue) if f.overdue else qs.exclude(overdue)
    if f.sla_state:
        qs = qs.filter(sla_state=f.sla_state)
    if f.date_from:
        qs = qs.filter(reported_at__gte=_local_midnight(f.date_from))
    if f.date_to:
        qs = qs.filter(reported_at__lt=_local_midnight(f.date_to + timedelta(days=1)))
    if f.q and f.q.strip():
        text = f.q.strip()
        qs = qs.filter(Q(number__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text)
                       | Q(address__icontains=text))
    return qs


@router.get("/cases", response={200: CaseListOut, **ERRORS}, summary="案件列表 · List cases")
def list_cases(request, filters: Query[CaseFilters]):
    qs = filter_cases(Case.objects.restrict(request.auth), filters)
    if filters.reporter_phone:
        qs = personal.filter_by_reporter_phone(request.auth, qs, filters.reporter_phone)
    total = qs.count()
    page = qs.select_related(*SUMMARY_RELATED).defer(*SUMMARY_DEFERRED)[filters.offset:filters.offset + filters.limit]
    return {"count": total, "limit": filters.limit, "offset": filters.offset, "items": [case_summary(c) for c in page]}


@router.get("/cases/{number}", response={200: CaseDetailOut, **ERRORS}, summary="案件详情 · Case detail")
def get_case(request, number: str, response: HttpResponse):
    response["Cache-Control"] = "no-store"  # personal data, even masked, is not for shared caches (R22)
    return _detail(request, _case(request, number))


@router.get("/cases/{number}/photos/{photo_id}", response={200: None, **ERRORS}, url_name="case_photo",
            summary="案件照片 · A case's photo",
            openapi_extra={"responses": {"200": {"description": "The re-encoded photo (EXIF removed)", "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}}}}}})
def get_case_photo(request, number: str, photo_id: int):
    # The case-level check first: a photo of a case outside the caller's scope is 404.
    return photo_files.serve_photo(_case(request, number), photo_id)


@router.post("/cases/{number}/reveal", response={200: RevealOut, **ERRORS}, openapi_extra=body_openapi(RevealIn),
             summary="查看个人信息明文 · Reveal personal data (audited)")
def reveal_case(request, number: str, response: HttpResponse):
    """Full reporter and follower contacts for a stated purpose code; every call is audited."""
    data, _files = parse_body(request, RevealIn)
    case = _case(request, number)
    response["Cache-Control"] = "no-store"
    return personal.reveal(actor=request.auth, case=case, purpose=data.purpose)


# --- transitions -----------------------------------------------------------------------


def _transition(path: str, schema, summary: str, *, files: tuple[str, ...] = ()):
    """Register POST /cases/{number}/<path>: parse `schema`, find the case, run `act`."""

    def register(act):
        def handler(request, number: str):
            data, uploaded = parse_body(request, schema, files=files)
            case = _case(request, number)
            act(request.auth, case, data, uploaded)
            return _detail(request, case)

        handler.__name__ = act.__name__
        handler.__doc__ = act.__doc__
        router.post(f"/cases/{{number}}/{path}", response={200: CaseDetailOut, **ERRORS},
                    openapi_extra=body_openapi(schema, files=files), summary=summary)(handler)
        return act

    return register


@_transition("accept", AcceptIn, "立案 · Accept")
def accept_case(user, case, data, files):
    case_services.accept_case(actor=user, case=case, category=_category(data.category), urgency=data.urgency, note=data.note)


@_transition("reject", ReasonIn, "不予立案 · Reject")
def reject_case(user, case, data, files):
    case_services.reject_case(actor=user, case=case, reason=data.reason)


@_transition("merge", MergeIn, "合并重复件 · Merge into another case")
def merge_case(user, case, data, files):
    into = Case.objects.restrict(user).filter(number=data.into).first()
    # A role without the right hears 403 from the service (its first check), not about the target.
    if into is None and can(user, "merge"):
        raise InvalidInput("目标案件不存在", "The surviving case does not exist", details={"field": "into"})
    case_services.merge_case(actor=user, case=case, into=into, note=data.note)


@_transition("dispatch", DispatchIn, "派遣 · Dispatch")
def dispatch_case(user, case, data, files):
    """Without a department or a region, the matrix's suggestion for the holding level is used."""
    department, region = _department(data.department), _region(data.region)
    if department is None and region is None:
        department = case_services.suggest_dispatch(case).department
    case_services.dispatch_case(actor=user, case=case, department=department, region=region, note=data.note)


@_transition("start", NoteIn, "签收 · Start handling")
def start_handling(user, case, data, files):
    case_services.start_handling(actor=user, case=case, note=data.note)


@_transition("return", ReturnIn, "退回 · Return as not ours")
def return_case(user, case, data, files):
    case_services.return_case(actor=user, case=case, reason=data.reason, responsible_party=data.responsible_party)


@_transition("request-extension", ExtensionIn, "申请延期 · Request an extension")
def request_extension(user, case, data, files):
    case_services.request_extension(actor=user, case=case, extra_working_days=data.extra_working_days, reason=data.reason)


@_transition("decide-extension", DecideExtensionIn, "审批延期 · Decide an extension")
def decide_extension(user, case, data, files):
    case_services.decide_extension(actor=user, case=case, approve=data.approve, note=data.note)


@_transition("feedback", ResultIn, "处置反馈 · Feedback", files=PHOTOS)
def submit_feedback(user, case, data, files):
    case_services.submit_feedback(actor=user, case=case, result=data.result, photos=files["photos"])


@_transition("verify", VerifyIn, "核查 · Verify", files=PHOTOS)
def verify_case(user, case, data, files):
    case_services.verify_case(actor=user, case=case, passed=data.passed, note=data.note, photos=files["photos"])


@_transition("close", CloseIn, "结案 · Close")
def close_case(user, case, data, files):
    case_services.close_case(actor=user, case=case, closure=data.closure, note=data.note,
                             responsible_party=data.responsible_party)


@_transition("self-resolve", ResultIn, "自办结 · Resolve on the spot", files=("before_photos", "after_photos"))
def self_resolve_case(user, case, data, files):
    case_services.self_resolve_case(actor=user, case=case, result=data.result, before_photos=files["before_photos"],
                                    after_photos=files["after_photos"])


@_transition("supervise", RequiredNoteIn, "督办 · Supervise")
def supervise_case(user, case, data, files):
    case_services.supervise_case(actor=user, case=case, note=data.note)


@_transition("escalate", ReasonIn, "上报上级 · Escalate")
def escalate_case(user, case, data, files):
    case_services.escalate_case(actor=user, case=case, reason=data.reason)


@_transition("hang", HangIn, "挂账 · Mark long-standing")
def hang_case(user, case, data, files):
    case_services.hang_case(actor=user, case=case, review_on=data.review_on, reason=data.reason)


@_transition("resume", NoteIn, "恢复办理 · Resume")
def resume_case(user, case, data, files):
    case_services.resume_case(actor=user, case=case, note=data.note)


@_transition("evaluate", EvaluateIn, "评价 · Evaluate")
def evaluate_case(user, case, data, files):
    case_services.evaluate_case(actor=user, case=case, rating=data.rating, comment=data.comment)


@_transition("callback", EvaluateIn, "回访 · Record a callback")
def callback_case(user, case, data, files):
    case_services.evaluate_case(actor=user, case=case, rating=data.rating, comment=data.comment, callback=True)


@_transition("reopen", ReasonIn, "重新打开 · Reopen")
def reopen_case(user, case, data, files):
    case_services.reopen_case(actor=user, case=case, reason=data.reason)


@_transition("correct-location", CorrectLocationIn, "更正网格 · Correct the grid")
def correct_location(user, case, data, files):
    case_services.correct_location(actor=user, case=case, grid=_grid(data.grid), note=data.note)


# --- reference data --------------------------------------------------------------------


@router.get("/categories", response={200: list[CategoryOut], **ERRORS}, summary="事件分类树 · Category tree")
def list_categories(request, include_inactive: bool = False):
    qs = Category.objects.order_by("code")
    if not include_inactive:
        qs = qs.filter(active=True)
    nodes = {}
    for c in qs:
        nodes[c.pk] = {
            "code": c.code, "name": c.name, "kind": c.kind, "case_type": c.case_type, "normal_limit": c.normal_limit,
            "normal_limit_unit": c.normal_limit_unit, "urgent_limit_hours": c.urgent_limit_hours,
            "verification_required": c.verification_required, "self_resolvable": c.self_resolvable, "active": c.active,
            "children": [], "_parent": c.parent_id,
        }
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.pop("_parent"))
        (parent["children"] if parent is not None else roots).append(node)
    return roots


@router.get("/departments", response={200: list[DepartmentOut], **ERRORS}, summary="职能部门 · Departments")
def list_departments(request):
    """Departments in the caller's territory and along its chain of ancestors."""
    user = request.auth
    qs = Department.objects.select_related("region").order_by("region__path", "code")
    if not user.is_superuser:
        scope = user.scope_path
        if not scope:
            return []
        parts = scope.rstrip(".").split(".")
        ancestors = [".".join(parts[:i]) + "." for i in range(1, len(parts) + 1)]
        qs = qs.filter(Q(region__path__startswith=scope) | Q(region__path__in=ancestors))
    return [
        {"code": d.code, "name": d.name, "region": _ref(d.region), "region_level": d.region.level, "active": d.active,
         "phone": d.phone}
        for d in qs
    ]


@router.get("/matrix/gaps", response={200: list[GapOut], **ERRORS}, summary="权责清单缺口 · Matrix gaps")
def matrix_gaps(request):
    user = request.auth
    if not (user.is_superuser or user.role == Role.SYSTEM_ADMIN):
        raise Forbidden("只有系统管理员可以查看权责清单缺口", "System administrators only", code="role_forbidden")
    return routing.matrix_gaps()
