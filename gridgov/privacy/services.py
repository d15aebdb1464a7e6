"""Writing the audit log (审计日志) and purging it after the retention period.

`audit()` is called by every service inside its transaction. It fails closed (R10): if the
record cannot be written the exception propagates and the caller's transaction rolls
back, so no state change exists without its record. Outside a transaction (a refused
request, a login) it writes in autocommit."""

from __future__ import annotations

import contextvars
import logging
from datetime import timedelta

from django.db import connections, router, transaction
from django.db.models import Max, Min
from django.utils import timezone

from gridgov.errors import DomainError

from . import chain
from .middleware import current as current_request
from .models import AuditCheckpoint, AuditRecord, AuditResult
from .scrub import scrub, scrub_text

logger = logging.getLogger("gridgov.audit")

# The SQLite trigger reads the purge cutoff through this (see triggers.py and apps.py).
purge_gate: contextvars.ContextVar[str | None] = contextvars.ContextVar("gridgov_audit_gate", default=None)


class AuditUnavailable(DomainError):
    """The audit sink failed: the operation is refused rather than left unaudited."""

    status = 503
    code = "audit_unavailable"


def _actor_fields(actor) -> dict:
    if actor is None:
        return {"actor_id": None, "actor_name": "", "actor_role": "system"}
    if not getattr(actor, "pk", None):
        return {"actor_id": None, "actor_name": "", "actor_role": "anonymous"}
    role = "superuser" if getattr(actor, "is_superuser", False) else getattr(actor, "role", "")
    return {"actor_id": actor.pk, "actor_name": scrub_text(actor.get_username())[:150], "actor_role": role[:24]}


def _changed_fields(before: dict | None, after: dict | None) -> list[str]:
    before, after = before or {}, after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def audit(
    *,
    actor,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    data: dict | None = None,
    fields: list[str] | None = None,
    before: dict | None = None,
    after: dict | None = None,
    purpose: str = "",
    result: str = AuditResult.SUCCESS,
) -> AuditRecord:
    """Append one audit record; raise AuditUnavailable (and roll the caller back) if it cannot be written.

    ``before``/``after`` (changed values) land in ``data`` and name the ``fields`` touched
    unless those are given. IP, request id and user agent come from the current request."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    payload = dict(data or {})
    if before is not None:
        payload["before"] = before
    if after is not None:
        payload["after"] = after
    if fields is None:
        fields = _changed_fields(before, after) if (before is not None or after is not None) else []
    ctx = current_request.get()
    values = {
        "at": timezone.now(),
        **_actor_fields(actor),
        "ip": ctx.ip if ctx else "",
        "request_id": ctx.request_id if ctx else "",
        "user_agent": scrub_text(ctx.user_agent)[:120] if ctx else "",
        "action": scrub_text(action)[:60],
        "object_type": scrub_text(object_type)[:60],
        "object_id": scrub_text(str(object_id))[:40],
        "fields": [scrub_text(str(f))[:60] for f in fields],
        "purpose": scrub_text(purpose)[:40],
        "result": AuditResult(result).value,
        "data": scrub(payload),
    }
    try:
        return chain.append(values)
    except Exception as exc:
        logger.critical("AUDIT SINK FAILURE: %s not recorded (%s: %s); the operation is refused",
                        values["action"], type(exc).__name__, exc)
        raise AuditUnavailable("审计日志暂时无法写入，操作未执行，请稍后再试",
                               "The audit log cannot be written; the operation was not performed") from exc


# --- retention ----------------------------------------------------------------------------


def retention_days() -> int:
    return chain.audit_settings()["RETENTION_DAYS"]


def purge(*, actor=None, now=None, days: int | None = None) -> dict:
    """Delete the records older than the retention period (≥ 180 days), chain prefix by
    chain prefix, leaving a signed purge anchor per chain and an audit record of the purge.

    The newest record of a chain is always kept (the next append links to it). This is the
    only path that can delete audit records; the database triggers check the cutoff again."""
    from .triggers import MIN_RETENTION_DAYS

    days = retention_days() if days is None else days
    if days < MIN_RETENTION_DAYS:
        raise DomainError(f"审计日志至少保留{MIN_RETENTION_DAYS}天", f"Audit records are kept at least {MIN_RETENTION_DAYS} days",
                          code="retention_too_short")
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    key = chain.signing_key()
    alias = router.db_for_write(AuditRecord)
    connection = connections[alias]
    summary = {"cutoff": cutoff.isoformat(), "retention_days": days, "chains": {}}
    with transaction.atomic(using=alias):
        gate_value = connection.ops.adapt_datetimefield_value(cutoff)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('gridgov.audit_gate', %s, true)", ["purge:" + cutoff.isoformat()])
        token = purge_gate.set(str(gate_value))
        try:
            per_chain = AuditRecord.objects.values("chain").annotate(top=Max("seq"))
            for row in per_chain:
                c, top = row["chain"], row["top"]
                first_young = AuditRecord.objects.filter(chain=c, at__gte=cutoff).aggregate(m=Min("seq"))["m"]
                floor = (first_young - 1) if first_young is not None else top - 1
                if floor < 1:
                    continue
                floor_hash = AuditRecord.objects.filter(chain=c, seq=floor).values_list("hash", flat=True).first()
                if floor_hash is None:  # already purged up to here
                    continue
                deleted, _ = AuditRecord.objects.filter(chain=c, seq__lte=floor).delete()
                at = timezone.now()
                AuditCheckpoint.objects.create(
                    at=at, kind=AuditCheckpoint.Kind.PURGE, chain=c, seq=floor, hash=floor_hash, key_id=chain.key_id(key),
                    signature=chain.sign(key, AuditCheckpoint.Kind.PURGE, c, floor, floor_hash, at),
                )
                summary["chains"][str(c)] = {"deleted": deleted, "up_to_seq": floor}
        finally:
            purge_gate.reset(token)
        summary["deleted"] = sum(v["deleted"] for v in summary["chains"].values())
        audit(actor=actor, action="audit.purge", object_type="privacy.auditrecord", object_id="*", data=summary)
    return summary
