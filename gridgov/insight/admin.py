"""Insight in the admin."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from gridgov.errors import InvalidInput

# --- hot spots and early warning ---------------------------------------------------------
from .models import CaseSuggestion, EarlyWarning, LabelMapping, WarningRule
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



# --- duplicates and intake suggestions (issue 5 §1–2) ---------------------------------------


@admin.register(LabelMapping)
class LabelMappingAdmin(admin.ModelAdmin):
    """Which platform category each classifier label suggests: configuration, edited here."""

    list_display = ["label", "category", "note"]
    search_fields = ["label", "category__name", "category__code"]
    raw_id_fields = ["category"]


@admin.register(CaseSuggestion)
class CaseSuggestionAdmin(admin.ModelAdmin):
    """Suggestions and decisions are written by intake and the case services: read-only here."""

    list_display = ["case", "label", "confidence", "category", "final_category", "followed", "department_followed", "decided_at"]
    list_filter = ["followed", "department_followed", "label"]
    search_fields = ["case__number", "label"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
