from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gridgov.errors import DomainError

from . import services
from .models import Grid, MicroGrid, Region


class PolygonForm(forms.ModelForm):
    """Checks the boundary as an import would."""

    def clean_geometry(self):
        try:
            return services.check_polygon(self.cleaned_data.get("geometry"))
        except DomainError as exc:
            raise forms.ValidationError(exc.message_zh) from None


class ServiceSaves:
    """Saves and deletes go through the places services (paths below follow, audit, index)."""

    def save_model(self, request, obj, form, change):
        services.save_territory(obj, actor=request.user)

    def delete_model(self, request, obj):
        services.delete_territory(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.delete_territory(obj, actor=request.user)


@admin.register(Region)
class RegionAdmin(ServiceSaves, admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent", "code_system", "code_year"]
    list_filter = ["level", "code_system", "code_year"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]
    fields = ["code", "name", "level", "parent", "code_system", "code_year", "path", "geometry", "centroid_lat", "centroid_lon"]


class MicroGridInline(admin.TabularInline):
    model = MicroGrid
    form = PolygonForm
    fields = ["code", "name", "households"]
    readonly_fields = ["code", "name", "households"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("微网格")
    verbose_name_plural = _("微网格")


@admin.register(Grid)
class GridAdmin(ServiceSaves, admin.ModelAdmin):
    form = PolygonForm
    list_display = ["code", "name", "region", "kind", "households", "target_band", "in_target"]
    list_filter = ["kind", "region__parent"]
    search_fields = ["code", "name", "region__name"]
    list_select_related = ["region"]
    autocomplete_fields = ["region"]
    readonly_fields = ["path", "min_lon", "min_lat", "max_lon", "max_lat", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "region", "kind", "special_type"]}),
        (_("户数"), {"fields": ["households", "target_min_households", "target_max_households"]}),
        (_("边界"), {"fields": ["geometry", "min_lon", "min_lat", "max_lon", "max_lat", "path"]}),
        (_("时间"), {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [MicroGridInline]

    @admin.display(description=_("目标户数"))
    def target_band(self, grid):
        return f"{grid.target_min_households}–{grid.target_max_households}"

    @admin.display(description=_("户数达标"), boolean=True)
    def in_target(self, grid):
        return grid.households_in_target


@admin.register(MicroGrid)
class MicroGridAdmin(ServiceSaves, admin.ModelAdmin):
    form = PolygonForm
    list_display = ["code", "name", "grid", "households"]
    search_fields = ["code", "name", "grid__code", "grid__name"]
    list_select_related = ["grid"]
    autocomplete_fields = ["grid"]
    readonly_fields = ["path", "min_lon", "min_lat", "max_lon", "max_lat", "created_at", "updated_at"]
