"""Insight in the admin."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from gridgov.errors import InvalidInput

# --- hot spots and early warning ---------------------------------------------------------
from .models import EarlyWarning, WarningRule
from .warnings import params_of


@admin.register(WarningRule)
class WarningRuleAdmin(admin.ModelAdmin):
    """Warning rules are configuration: thresholds are edited here (docs/insight.md)."""

    list_display = ["code", "name", "kind", "enabled", "params", "updated_at"]
    list_filter = ["kind", "enabled"]
    list_editable = ["enabled"]
    search_fields = ["code", "name"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class CheckedForm(form):
            def clean(self):
                data = super().clean()
                probe = WarningRule(code=data.get("code") or "?", kind=data.get("kind"), params=data.get("params") or {})
                try:
                    params_of(probe)
                except InvalidInput as exc:
                    raise ValidationError(exc.message_zh) from None
                return data

        return CheckedForm


@admin.register(EarlyWarning)
class EarlyWarningAdmin(admin.ModelAdmin):
    """Warnings change only through the insight services (API, scan): read-only here."""

    list_display = ["id", "title", "kind", "severity", "state", "region", "owner_region", "raised_at", "case"]
    list_filter = ["kind", "severity", "state"]
    search_fields = ["title", "subject_key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
