"""Insight API for the command centre: a case's candidate duplicates and its category suggestion.

Both start from `Case.objects.restrict(user)`: a case the caller may not see answers 404, and
candidates the caller may not see are never listed. Merging is the cases API's existing
transition, `POST /api/cases/{number}/merge {"into": "<survivor>"}`: one click on a candidate.
"""

from ninja import Field, Query, Router, Schema

from gridgov.accounts.models import Role
from gridgov.accounts.permissions import can
from gridgov.cases.models import Case
from gridgov.cases.schemas import ERRORS
from gridgov.errors import Forbidden, NotFound

from . import duplicates, intake

router = Router(tags=["insight"])


class RefOut(Schema):
    code: str
    name: str


class DuplicateOut(Schema):
    number: str
    title: str
    status: str
    reported_at: str
    category: RefOut | None
    score: float = Field(..., description="文本相似度 (Jaccard of the shingle sets, 0–1)")
    distance_m: float | None = Field(None, description="相距米数; null when either case has no location")
    radius_m: float = Field(..., description="判定半径 (the category's duplicate radius)")
    reason: str
    merge: str = Field(..., description="how to merge this case into the candidate")


class DuplicatesOut(Schema):
    case: str
    window_days: int
    candidates: list[DuplicateOut]


class CategorySuggestionOut(Schema):
    case: str
    stored: bool = Field(..., description="true: recorded at intake; false: computed now, not recorded")
    label: str = Field(..., description="模型类别 (the classifier's label, a first-level board category)")
    confidence: float
    alternatives: list[tuple[str, float]]
    model: str
    category: RefOut | None = Field(None, description="the platform category the label maps to, if any")
    department: RefOut | None = Field(None, description="the matrix's department for that category at the holding level")
    final_category: RefOut | None = None
    followed: bool | None = None
    department_followed: bool | None = None


def _ref(obj):
    return {"code": obj.code, "name": obj.name} if obj is not None else None


def _staff_case(request, number: str) -> Case:
    user = request.auth
    case = (
        Case.objects.restrict(user).filter(number=number)
        .select_related("category", "region", "owner_region").defer("region__geometry", "owner_region__geometry").first()
        if "\x00" not in number else None
    )
    # Scope first, like every case endpoint: a case outside it is 404 for every role, and
    # only a case the caller sees can tell it that its role lacks the right.
    if case is None:
        raise NotFound("案件不存在", "Case not found")
    if not (user.is_superuser or user.role != Role.RESIDENT):
        raise Forbidden("只有工作人员可以查看", "Staff only", code="role_forbidden")
    return case


@router.get("/cases/{number}/duplicates", response={200: DuplicatesOut, **ERRORS}, summary="疑似重复件 · Candidate duplicates")
def case_duplicates(request, number: str, limit: int = Query(10, ge=1, le=50)):
    """Open cases of the duplicate window near this one with similar text, best first (staff only)."""
    case = _staff_case(request, number)
    found = duplicates.find_duplicates(case, user=request.auth, limit=limit)
    mergeable = case.is_open and can(request.auth, "merge")
    return {
        "case": case.number,
        "window_days": duplicates._defaults()["window_days"],
        "candidates": [
            {
                "number": c.case.number, "title": c.case.title, "status": c.case.status,
                "reported_at": c.case.reported_at.isoformat(), "category": _ref(c.case.category),
                "score": round(c.score, 3), "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
                "radius_m": c.radius_m, "reason": c.reason,
                "merge": f"POST /api/cases/{case.number}/merge {{\"into\": \"{c.case.number}\"}}" if mergeable else "",
            }
            for c in found
        ],
    }


@router.get("/cases/{number}/suggestion", response={200: CategorySuggestionOut, **ERRORS},
            summary="智能分类建议 · Category and department suggestion")
def case_suggestion(request, number: str):
    """The classifier's suggestion recorded at intake (or computed now) and where it routes."""
    case = _staff_case(request, number)
    stored = getattr(case, "insight_suggestion", None) if hasattr(case, "insight_suggestion") else None
    if stored is not None:
        label, confidence, alternatives, model = stored.label, stored.confidence, stored.alternatives, stored.model
    else:
        live = intake.classify_case(case.title, case.description)
        if live is None:
            raise NotFound("暂无分类建议（没有可用的模型）", "No suggestion: no model available", code="no_suggestion")
        label, confidence, alternatives, model = live.label, live.confidence, live.alternatives, live.model
    category = intake.category_for_label(label)
    return {
        "case": case.number, "stored": stored is not None, "label": label, "confidence": confidence,
        "alternatives": [tuple(a) for a in alternatives], "model": model, "category": _ref(category),
        "department": _ref(intake.department_for(category, case)) if case.is_open else None,
        "final_category": _ref(stored.final_category) if stored is not None else None,
        "followed": stored.followed if stored is not None else None,
        "department_followed": stored.department_followed if stored is not None else None,
    }
