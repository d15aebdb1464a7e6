"""Shapes of the cases API: what a client may send and what it gets back.

Writes accept a JSON object or a form (multipart with photos, or urlencoded): the same
schema validates both, so a field means the same thing however it arrives. Lengths match
the model columns, so an over-long string is refused here with a 422 and never reaches
the database.
"""

import json
from datetime import date, datetime
from typing import Annotated, Literal

import pydantic
from ninja import Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from gridgov.places.models import RegionLevel
from gridgov.privacy.vault import PURPOSES

from .choices import Channel, Closure, SlaState, Urgency

ChannelCode = Literal[tuple(Channel.values)]  # type: ignore[valid-type]
UrgencyCode = Literal[tuple(Urgency.values)]  # type: ignore[valid-type]
ClosureCode = Literal[Closure.RESOLVED.value, Closure.NOT_RESOLVABLE.value, Closure.NOT_OURS.value]
SlaStateCode = Literal[tuple(SlaState.values)]  # type: ignore[valid-type]



def _not_bool(value):
    # pydantic's lax mode reads true as 1; a rating or a latitude of `true` is a mistake.
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]

Note = Field("", max_length=2000)
Reason = Field(..., max_length=2000)
Code = Field(None, max_length=40)


def _no_nul(value):
    # PostgreSQL text cannot hold NUL; no legitimate field needs one.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
        raise ValueError("NUL characters are not allowed")
    return value


class Clean(Schema):
    _no_nul = field_validator("*", mode="before")(_no_nul)


class In(Clean):
    """Inputs refuse unknown fields: a misspelt field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --- inputs ----------------------------------------------------------------------------


class ReportIn(In):
    channel: ChannelCode
    title: str = Field(..., max_length=200)
    description: str = Field("", max_length=5000)
    category: str | None = Field(None, max_length=20, description="分类编码 (category code)")
    urgency: UrgencyCode = Urgency.NORMAL.value
    lat: Float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: Float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    crs: str = Field("wgs84", max_length=20, description="wgs84, gcj02 or bd09")
    address: str = Field("", max_length=255)
    grid: str | None = Field(None, max_length=24, description="网格编码 (grid code)")
    region: str | None = Field(None, max_length=12, description="区划代码 (region code)")
    reporter_name: str = Field("", max_length=60)
    reporter_phone: str = Field("", max_length=20)
    public_anonymous: bool = True


class AcceptIn(In):
    category: str | None = Field(None, max_length=20)
    urgency: UrgencyCode | None = None
    note: str = Note


class ReasonIn(In):
    reason: str = Reason


class NoteIn(In):
    note: str = Note


class RequiredNoteIn(In):
    note: str = Reason


class MergeIn(In):
    into: str = Field(..., max_length=32, description="存续案件编号 (the surviving case's number)")
    note: str = Note


class DispatchIn(In):
    department: str | None = Field(None, max_length=40, description="部门编码; 与 region 二选一, 都不给则按权责清单建议")
    region: str | None = Field(None, max_length=12, description="下级区划代码")
    note: str = Note


class ReturnIn(In):
    reason: str = Reason
    responsible_party: str = Field(..., max_length=200)


class ExtensionIn(In):
    extra_working_days: Int = Field(..., ge=1, le=60)
    reason: str = Reason


class DecideExtensionIn(In):
    approve: bool
    note: str = Note


class ResultIn(In):
    result: str = Field(..., max_length=5000)


class VerifyIn(In):
    passed: bool
    note: str = Note


class CloseIn(In):
    closure: ClosureCode
    note: str = Note
    responsible_party: str = Field("", max_length=200)


class HangIn(In):
    review_on: date
    reason: str = Reason


class EvaluateIn(In):
    rating: Int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=2000)


class CorrectLocationIn(In):
    grid: str = Field(..., max_length=24)
    note: str = Note


class CaseFilters(Clean):
    status: list[str] = Field([], description="状态, 可重复或逗号分隔")
    category: str | None = Field(None, max_length=20, description="分类编码 (含下级分类)")
    grid: str | None = Field(None, max_length=24, description="网格编码 (含微网格)")
    region: str | None = Field(None, max_length=12, description="区划代码 (含下级)")
    channel: ChannelCode | None = None
    overdue: bool | None = Field(None, description="true: 未办结且已过处置时限")
    sla_state: SlaStateCode | None = None
    date_from: date | None = Field(None, description="上报日期起 (含)")
    date_to: date | None = Field(None, description="上报日期止 (含)")
    q: str | None = Field(None, max_length=100, description="编号、标题、描述、地址中的文字")
    reporter_phone: str | None = Field(None, max_length=30, description="上报人电话精确查找 (盲索引; 仅授权工作人员, 留痕)")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10_000_000)


# --- outputs ---------------------------------------------------------------------------


class RefOut(Schema):
    code: str
    name: str


class SuggestionOut(Schema):
    department: RefOut | None
    source: str
    reason: str


class PhotoOut(Schema):
    id: int
    kind: str
    url: str
    uploaded_at: datetime


class TimelineOut(Schema):
    at: datetime
    action: str
    from_status: str
    to_status: str
    note: str
    data: dict
    actor: str | None = Field(None, description="操作人 (仅工作人员可见)")


class AssignmentOut(Schema):
    department: RefOut | None
    region: RefOut
    from_region: RefOut
    dispatched_at: datetime
    accepted_at: datetime | None
    returned_at: datetime | None
    return_reason: str
    finished_at: datetime | None
    suggestion_source: str
    followed_suggestion: bool | None


class ExtensionOut(Schema):
    requested_at: datetime
    extra_working_days: int
    reason: str
    state: str
    decided_at: datetime | None
    decision_note: str


class ReporterOut(Schema):
    name: str | None
    phone: str | None = Field(None, description="掩码显示, 如 138****5678")
    public_anonymous: bool


class CaseOut(Schema):
    number: str
    title: str
    status: str
    status_label: str
    channel: str
    urgency: str
    category: RefOut | None
    grid: RefOut | None
    region: RefOut
    owner_region: RefOut
    owner_department: RefOut | None
    address: str
    lat: Float | None
    lon: Float | None
    reported_at: datetime
    due_at: datetime | None
    sla_state: str
    is_open: bool


class CaseDetailOut(CaseOut):
    description: str
    case_type: str
    closure: str
    closure_note: str
    responsible_party: str
    duplicate_of: str | None
    accepted_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    warn_at: datetime | None
    closed_on_time: bool | None
    review_on: date | None
    rework_count: int
    supervision_count: int
    escalation_count: int
    reopen_count: int
    self_resolved: bool
    result: str
    rating: int | None
    rating_comment: str
    evaluated_at: datetime | None
    evaluated_by_callback: bool
    reporter: ReporterOut
    timeline: list[TimelineOut]
    photos: list[PhotoOut]
    assignments: list[AssignmentOut]
    extension_requests: list[ExtensionOut]
    suggestion: SuggestionOut | None = Field(None, description="权责清单对当前层级的派遣建议 (仅可派遣的角色)")


class RevealIn(In):
    purpose: Literal[tuple(PURPOSES)] = Field(..., description="查看目的: " + "; ".join(f"{k} {v}" for k, v in PURPOSES.items()))  # type: ignore[valid-type]


class ContactOut(Schema):
    name: str
    phone: str


class RevealOut(Schema):
    number: str
    purpose: str
    reporter: ContactOut
    followers: list[ContactOut]


class CaseListOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[CaseOut]


class CategoryOut(Schema):
    code: str
    name: str
    kind: str
    case_type: str
    normal_limit: int
    normal_limit_unit: str
    urgent_limit_hours: int
    verification_required: bool
    self_resolvable: bool
    active: bool
    children: list["CategoryOut"]


class DepartmentOut(Schema):
    code: str
    name: str
    region: RefOut
    region_level: str
    active: bool
    phone: str


class GapOut(Schema):
    category: str
    name: str
    level: Literal[tuple(RegionLevel.values)]  # type: ignore[valid-type]


class ErrorBody(Schema):
    code: str
    message_zh: str
    message_en: str
    details: dict


class ErrorOut(Schema):
    error: ErrorBody


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- reading a write's body --------------------------------------------------------------

FORM_TYPES = {"multipart/form-data", "application/x-www-form-urlencoded"}
JSON_TYPES = {"application/json", ""}


def parse_body(request, schema: type[In], *, files: tuple[str, ...] = ()) -> tuple[In, dict[str, list]]:
    """Validate a JSON object or a form against `schema`; return it and the uploaded files.

    Raises ninja's ValidationError (422) for bad fields, HttpError 400 for unparsable JSON
    and 415 for other content types, so the API's error handlers shape the answer.
    """
    content_type = request.content_type or ""
    uploaded: dict[str, list] = {name: [] for name in files}
    if content_type in FORM_TYPES:
        list_fields = {n for n, f in schema.model_fields.items() if getattr(f.annotation, "__origin__", None) is list}
        data = {}
        for key in request.POST:
            if key == "csrfmiddlewaretoken":
                continue
            values = [v for v in request.POST.getlist(key) if v != ""]
            if values:
                data[key] = values if key in list_fields else values[-1]
        unexpected = [key for key in request.FILES if key not in uploaded]
        if unexpected:
            raise NinjaValidationError(
                [{"type": "extra_forbidden", "loc": ("body", key), "msg": "Unexpected file field"} for key in unexpected]
            )
        for key in request.FILES:
            uploaded[key] = request.FILES.getlist(key)
    elif content_type in JSON_TYPES:
        raw = request.body
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise HttpError(400, "Cannot parse request body") from None
        else:
            data = {}
        if not isinstance(data, dict):
            raise NinjaValidationError([{"type": "dict_type", "loc": ("body",), "msg": "The body must be a JSON object"}])
    else:
        raise HttpError(415, f"Unsupported content type {content_type}")
    try:
        return schema.model_validate(data), uploaded
    except pydantic.ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            error["loc"] = ("body", *error["loc"])
            errors.append(error)
        raise NinjaValidationError(errors) from None


def body_openapi(schema: type[In], *, files: tuple[str, ...] = ()) -> dict:
    """The OpenAPI requestBody of a write that takes `schema` as JSON or as a form."""
    json_schema = schema.model_json_schema()
    form_schema = json.loads(json.dumps(json_schema))
    for name in files:
        form_schema.setdefault("properties", {})[name] = {
            "type": "array", "items": {"type": "string", "format": "binary"}, "description": "照片 (JPEG/PNG/WebP, ≤10MB, ≤40MP; re-encoded without EXIF)",
        }
    content = {"application/json": {"schema": json_schema}, "multipart/form-data": {"schema": form_schema}}
    if not files:
        content["application/x-www-form-urlencoded"] = {"schema": json_schema}
    return {"requestBody": {"required": bool(json_schema.get("required")), "content": content}}
