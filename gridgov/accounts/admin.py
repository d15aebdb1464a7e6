"""Admin for accounts: users and their posts, the role table, tokens, sign-in history.

Who may open which page comes from the role table (see backends.py): the system
administrator manages users, the security administrator the role table, the auditor reads
the sign-in history. Changes go through the services so they are audited.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.utils.translation import gettext_lazy as _

from gridgov.privacy.services import audit

from . import services
from .models import ApiToken, LoginEvent, Post, RoleAction, User


class ResetPasswordForm(AdminPasswordChangeForm):
    """An administrator's reset: the user must choose their own password at next sign-in."""

    def save(self, commit=True):
        user = super().save(commit=False)
        user.must_change_password = True
        if commit:
            user.save()
        return user


class PostInline(admin.TabularInline):
    model = Post
    extra = 0
    fields = ("role", "region", "grid", "department", "active")
    autocomplete_fields = ()
    raw_id_fields = ("region", "grid", "department")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    change_password_form = ResetPasswordForm
    inlines = [PostInline]
    list_display = ("username", "display_name", "role", "region", "grid", "department", "is_active", "must_change_password",
                    "last_login")
    list_filter = ("role", "is_active", "is_staff", "must_change_password")
    search_fields = ("username", "display_name")
    raw_id_fields = ("region", "grid", "department")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("岗位"), {"fields": ("display_name", "role", "region", "grid", "department")}),
        (_("状态"), {"fields": ("is_active", "is_staff", "is_superuser", "must_change_password", "groups", "user_permissions")}),
        (_("时间"), {"fields": ("last_login", "date_joined", "password_changed_at")}),
    )
    readonly_fields = ("last_login", "date_joined", "password_changed_at")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Only a superuser hands out the superuser flag or raw Django permissions.
            fields += ["is_superuser", "groups", "user_permissions"]
        return fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit(actor=request.user, action="account.change" if change else "account.create", obj=obj,
              data={"fields": sorted(form.changed_data)})

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        services._sync_post_flag(form.instance.pk)
        if formset.has_changed():
            audit(actor=request.user, action="account.posts_change", obj=form.instance)

    def delete_model(self, request, obj):
        audit(actor=request.user, action="account.delete", obj=obj, data={"username": obj.username})
        super().delete_model(request, obj)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            audit(actor=request.user, action="account.password_reset", object_type="accounts.user", object_id=str(id))
        return response


@admin.register(RoleAction)
class RoleActionAdmin(admin.ModelAdmin):
    """The role → action table; every edit bumps its version so all processes reload it."""

    list_display = ("role", "action")
    list_filter = ("role",)
    search_fields = ("action",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.bump_role_table()
        audit(actor=request.user, action="role.change" if change else "role.grant", obj=obj,
              data={"role": obj.role, "action": obj.action})

    def delete_model(self, request, obj):
        audit(actor=request.user, action="role.revoke", obj=obj, data={"role": obj.role, "action": obj.action})
        super().delete_model(request, obj)
        services.bump_role_table()

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit(actor=request.user, action="role.revoke", obj=obj, data={"role": obj.role, "action": obj.action})
        super().delete_queryset(request, queryset)
        services.bump_role_table()


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "roles", "scope_path", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "roles", "scope_path", "created_at", "expires_at", "revoked_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # issued by `gridgov token issue`, which shows the clear value once

    @admin.action(description=_("吊销所选令牌"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            services.revoke_token(actor=request.user, token=token)
        messages.success(request, _("已吊销"))


@admin.register(LoginEvent)
class LoginEventAdmin(admin.ModelAdmin):
    list_display = ("at", "username", "kind", "ip", "user_agent")
    list_filter = ("kind",)
    search_fields = ("username", "ip")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
