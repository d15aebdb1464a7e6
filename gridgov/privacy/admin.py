"""The audit log in the admin: read-only, and visible to auditors only (三员分立)."""

from django.contrib import admin

from .models import AuditCheckpoint, AuditRecord


class ReadOnlyAuditAdmin(admin.ModelAdmin):
    actions = None
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        from gridgov.accounts.models import Role

        user = request.user
        return user.is_active and user.is_staff and not user.is_superuser and getattr(user, "role", None) == Role.AUDITOR

    def has_module_permission(self, request):
        return self.has_view_permission(request)


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAuditAdmin):
    list_display = ("at", "actor_name", "actor_role", "action", "object_type", "object_id", "result", "ip")
    list_filter = ("result", "actor_role")
    search_fields = ("action", "actor_name", "object_id", "ip", "request_id")
    date_hierarchy = "at"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAuditAdmin):
    list_display = ("at", "kind", "chain", "seq", "key_id")
    list_filter = ("kind",)
