"""Configuration in the admin: departments, categories, the matrix (with its gap list), the
calendar; cases are shown read-only — they change only through the case services."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from gridgov.privacy.masking import mask_name, mask_phone

from . import admin_calendar  # noqa: F401  (registers the working calendar)
from .models import Assignment, Case, Category, Department, ResponsibilityRule, TimelineEntry
from .routing import matrix_gaps


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "region", "active", "phone"]
    list_filter = ["active", "region__level"]
    search_fields = ["name", "code", "region__name"]
    raw_id_fields = ["region"]


class ChildInline(admin.TabularInline):
    model = Category
    fk_name = "parent"
    fields = ["code", "name", "kind", "case_type", "normal_limit", "normal_limit_unit", "urgent_limit_hours", "active"]
    extra = 0
    show_change_link = True


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "parent", "kind", "case_type", "normal_limit", "normal_limit_unit",
                    "urgent_limit_hours", "verification_required", "self_resolvable", "active"]
    list_filter = ["kind", "case_type", "depth", "source", "active"]
    search_fields = ["code", "name"]
    list_editable = ["normal_limit", "urgent_limit_hours", "verification_required", "self_resolvable", "active"]
    inlines = [ChildInline]
    autocomplete_fields = ["parent"]


@admin.register(ResponsibilityRule)
class ResponsibilityRuleAdmin(admin.ModelAdmin):
    list_display = ["category", "level", "region", "department_name", "department", "note"]
    list_filter = ["level"]
    search_fields = ["category__name", "category__code", "department_name"]
    autocomplete_fields = ["category"]
    raw_id_fields = ["region", "department"]

    def get_urls(self):
        return [path("gaps/", self.admin_site.admin_view(self.gaps_view), name="cases_matrix_gaps"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        count = len(matrix_gaps())
        if count:
            messages.warning(request, _("权责清单有 %(n)d 处缺口（分类×层级无责任部门），见“缺口清单”：/admin/cases/responsibilityrule/gaps/") % {"n": count})
        return super().changelist_view(request, extra_context)

    def gaps_view(self, request):
        context = {**self.admin_site.each_context(request), "title": _("权责清单缺口"), "gaps": matrix_gaps(), "opts": self.model._meta}
        return TemplateResponse(request, "admin/cases/matrix_gaps.html", context)


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    fields = ["at", "action", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fields = ["dispatched_at", "department", "region", "from_region", "accepted_at", "returned_at", "return_reason", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "status", "category", "grid", "owner_region", "owner_department", "sla_state", "reported_at"]
    list_filter = ["status", "sla_state", "channel", "urgency"]
    search_fields = ["number", "title", "address"]
    date_hierarchy = "reported_at"
    list_select_related = ["category", "grid", "owner_region", "owner_department"]
    inlines = [AssignmentInline, TimelineInline]
    # Personal data only masked here; full values go through the audited reveal.
    exclude = ["reporter_name", "reporter_phone"]
    readonly_fields = ["reporter_masked"]

    def get_queryset(self, request):
        return super().get_queryset(request).restrict(request.user)

    @admin.display(description=_("上报人"))
    def reporter_masked(self, obj):
        return f"{mask_name(obj.reporter_name)} {mask_phone(obj.reporter_phone)}".strip()

    # State changes only through the case services: the admin shows, never edits.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
