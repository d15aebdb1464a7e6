"""Insight in the admin. Sections by feature, like models.py."""

from django.contrib import admin

from .models import CaseSuggestion, LabelMapping

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
