"""Audit log API for auditors (审计员) under /api/audit/: search, one record, CSV export, verify.

Separation of duties (三员分立): only the auditor role reads the log. System administrators
are refused, and so is any superuser, even one whose role says auditor: a superuser can
change accounts and configuration, so letting it read (or export) the trail of its own
changes would defeat the separation. Nobody writes through the API: there is no POST, PUT,
PATCH or DELETE here, and the admin shows the log read-only.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from django.http import HttpResponse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema
from pydantic import field_validator

from gridgov.accounts.models import Role
from gridgov.errors import Forbidden, NotFound

from . import chain
from .models import AuditRecord, AuditResult
from .services import audit

router = Router(tags=["audit"])
EXPORT_MAX_ROWS = 100_000
CSV_COLUMNS = ("id", "at", "actor_name", "actor_role", "ip", "request_id", "user_agent", "action", "object_type",
               "object_id", "fields", "purpose", "result", "data", "chain", "seq", "hash")


def _no_nul(value):
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL character")
    return value


class AuditFilters(Schema):
    actor: str | None = Field(None, max_length=150, description="操作人用户名")
    action: str | None = Field(None, max_length=60, description="操作, 以此开头 (如 case.)")
    object_type: str | None = Field(None, max_length=60, description="对象类型 (如 cases.case)")
    object_id: str | None = Field(None, max_length=40, description="对象编号")
    ip: str | None = Field(None, max_length=45, description="来源IP")
    result: AuditResult | None = None
    request_id: str | None = Field(None, max_length=64)
    since: datetime | None = Field(None, description="起始时间 (含)")
    until: datetime | None = Field(None, description="截止时间 (不含)")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)

    _clean = field_validator("*", mode="before")(_no_nul)


class AuditRecordOut(Schema):
    id: int
    at: datetime
    actor_name: str
    actor_role: str
    ip: str
    request_id: str
    user_agent: str
    action: str
    object_type: str
    object_id: str
    fields: list
    purpose: str
    result: str
    data: dict
    chain: int
    seq: int
    hash: str


class AuditListOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[AuditRecordOut]


class VerifyOut(Schema):
    ok: bool
    records: int
    chains: int
    checkpoints: int
    problems: list[dict]


def require_auditor(user) -> None:
    """Only the auditor role, and never a superuser (separation of duties)."""
    if user is None or user.is_superuser or getattr(user, "role", None) != Role.AUDITOR:
        raise Forbidden("仅审计员可查看审计日志", "Only auditors may read the audit log", code="auditors_only")


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def filtered(f: AuditFilters):
    qs = AuditRecord.objects.all()
    if f.actor:
        qs = qs.filter(actor_name=f.actor)
    if f.action:
        qs = qs.filter(action__startswith=f.action)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.object_id:
        qs = qs.filter(object_id=f.object_id)
    if f.ip:
        qs = qs.filter(ip=f.ip)
    if f.result:
        qs = qs.filter(result=f.result)
    if f.request_id:
        qs = qs.filter(request_id=f.request_id)
    if f.since:
        qs = qs.filter(at__gte=_aware(f.since))
    if f.until:
        qs = qs.filter(at__lt=_aware(f.until))
    return qs.order_by("-at", "-id")


def _filters_used(f: AuditFilters) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in f.dict().items()
            if v not in (None, "") and k not in ("limit", "offset")}


@router.get("/audit/records", response=AuditListOut, summary="检索审计日志 · Search the audit log")
def search_records(request, filters: Query[AuditFilters]):
    require_auditor(request.auth)
    qs = filtered(filters)
    return {"count": qs.count(), "limit": filters.limit, "offset": filters.offset,
            "items": list(qs[filters.offset:filters.offset + filters.limit])}


@router.get("/audit/records/{record_id}", response=AuditRecordOut, summary="审计记录 · One audit record")
def get_record(request, record_id: Path[Annotated[int, Field(ge=1, le=2**63 - 1)]]):
    require_auditor(request.auth)
    record = AuditRecord.objects.filter(pk=record_id).first()
    if record is None:
        raise NotFound("审计记录不存在", "No such audit record")
    return record


@router.get("/audit/export.csv", summary="导出审计日志 · Export the audit log (CSV)",
            response={200: None}, openapi_extra={"responses": {"200": {"content": {"text/csv": {}}}}})
def export_records(request, filters: Query[AuditFilters]):
    """CSV of the matching records (newest first, at most 100,000), watermarked with the
    exporter and the time; the export itself is an audit record with the row count."""
    require_auditor(request.auth)
    user = request.auth
    now = timezone.now()
    rows = list(filtered(filters).values_list(*CSV_COLUMNS)[:EXPORT_MAX_ROWS])
    record = audit(actor=user, action="audit.export", object_type="privacy.auditrecord", object_id="*",
                   data={"rows": len(rows), "filters": _filters_used(filters)})
    out = io.StringIO()
    mark = f"# 导出人 exported by: {user.get_username()} ({user.pk}); 时间 at: {timezone.localtime(now).isoformat()}; " \
           f"audit record #{record.pk}; 共 rows: {len(rows)}"
    out.write(mark + "\n")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    out.write(mark + "\n")
    response = HttpResponse(out.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localtime(now):%Y%m%d-%H%M%S}.csv"'
    return response


def _csv_cell(value) -> str:
    import json

    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ is read as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/audit/verify", response=VerifyOut, summary="校验审计链 · Verify the audit chains")
def verify_chains(request):
    require_auditor(request.auth)
    report = chain.verify()
    audit(actor=request.auth, action="audit.verify", object_type="privacy.auditrecord", object_id="*",
          data={"ok": report.ok, "records": report.records, "problems": len(report.problems)})
    return {"ok": report.ok, "records": report.records, "chains": report.chains, "checkpoints": report.checkpoints,
            "problems": [p.as_dict() for p in report.problems[:100]]}
