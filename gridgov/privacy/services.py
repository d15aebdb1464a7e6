"""Writing the audit log. Callers are services already inside their transaction."""

from .models import AuditRecord


def audit(*, actor, action: str, obj=None, object_type: str = "", object_id: str = "", data: dict | None = None) -> AuditRecord:
    """Append one audit record."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditRecord.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
    )
