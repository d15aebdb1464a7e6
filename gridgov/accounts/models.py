"""Users, their role and their node of the territory (辖区)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.privacy.fields import BlindIndexField, EncryptedTextField, RowUidField, SubjectKeyField


class Role(models.TextChoices):
    RESIDENT = "resident", _("居民")
    GRID_WORKER = "grid_worker", _("网格员")
    GRID_LEADER = "grid_leader", _("网格长")
    COMMUNITY_STAFF = "community_staff", _("社区(村)工作人员")
    DISPATCHER = "dispatcher", _("指挥中心调度员")
    DEPARTMENT_HANDLER = "department_handler", _("职能部门处置人员")
    LEADER = "leader", _("领导")
    AUDITOR = "auditor", _("审计管理员")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")
    SECURITY_ADMIN = "security_admin", _("安全管理员")


STAFF_ROLES = {r for r in Role if r != Role.RESIDENT}
# 三员分立: the three administrators of MLPS 2.0 — accounts/configuration, roles/labels, audit.
ADMIN_ROLES = {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR}


class User(AbstractUser):
    """A person who signs in: a resident or a member of staff attached to one node of the
    region/grid tree (or to a department at a node)."""

    role = models.CharField(_("角色"), max_length=24, choices=Role.choices, default=Role.RESIDENT)
    region = models.ForeignKey(
        "places.Region", models.PROTECT, null=True, blank=True, related_name="users", verbose_name=_("所属区划")
    )
    grid = models.ForeignKey(
        "places.Grid", models.SET_NULL, null=True, blank=True, related_name="users", verbose_name=_("所属网格")
    )
    department = models.ForeignKey(
        "cases.Department", models.PROTECT, null=True, blank=True, related_name="users", verbose_name=_("所属部门")
    )
    display_name = models.CharField(_("姓名"), max_length=60, blank=True)
    phone = EncryptedTextField(_("手机号"), kind="phone", identifies=True)
    phone_bidx = BlindIndexField(source="phone")
    pi_uid = RowUidField()
    pi_subject = SubjectKeyField()

    # --- login security (accounts) ---
    must_change_password = models.BooleanField(
        _("下次登录须修改密码"), default=True,
        help_text=_("新建账号和管理员重置密码后为真：用户登录后须先设置自己的密码"),
    )
    password_changed_at = models.DateTimeField(_("密码修改时间"), null=True, blank=True, editable=False)
    # Kept by services.set_posts: lets the single-post case skip the Post query entirely.
    has_extra_posts = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def scope_path(self) -> str | None:
        """Path prefix of the territory this user sees; None means no territory.

        Read as a bare path (never the node's polygon) and remembered on the instance."""
        if not hasattr(self, "_scope_path"):
            from gridgov.places.models import Grid, Region

            path = None
            if self.grid_id:
                path = Grid.objects.filter(pk=self.grid_id).values_list("path", flat=True).first()
            elif self.region_id:
                path = Region.objects.filter(pk=self.region_id).values_list("path", flat=True).first()
            elif self.department_id:
                path = Region.objects.filter(departments__pk=self.department_id).values_list("path", flat=True).first()
            self._scope_path = path
        return self._scope_path

    @property
    def sees_everything(self) -> bool:
        return self.is_superuser

    # --- posts (岗位) and login security -----------------------------------------------------

    def set_password(self, raw_password):
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()

    @property
    def posts_all(self) -> list["PostLike"]:
        """The primary post (the user's own role/region/grid/department) then the extra posts.

        Loaded once per instance; no query at all when the user holds no extra post. An API
        token narrows this to its roles and jurisdiction (see services.authenticate_token)."""
        if not hasattr(self, "_posts_all"):
            posts = [PostLike(self.role, self.region_id, self.grid_id, self.department_id)]
            if self.has_extra_posts and self.pk:
                posts += [PostLike(p.role, p.region_id, p.grid_id, p.department_id)
                          for p in Post.objects.filter(user_id=self.pk, active=True)]
            self._posts_all = posts
        return self._posts_all

    @property
    def roles(self) -> frozenset[str]:
        """Every role the user holds through any post."""
        if "_roles" not in self.__dict__:
            self._roles = frozenset(p.role for p in self.posts_all)
        return self._roles

    @property
    def scope_paths(self) -> list[tuple[str, str]]:
        """(role, path) of every post that has a territory; one entry for a single post."""
        if not hasattr(self, "_scope_paths"):
            if not self.has_extra_posts and len(self.posts_all) == 1:
                path = self.scope_path
                self._scope_paths = [(self.role, path)] if path else []
            else:
                self._scope_paths = [(p.role, path) for p in self.posts_all if (path := p.path())]
        return self._scope_paths

    @property
    def needs_mfa(self) -> bool:
        """Must this user sign in with a second factor (TOTP)? Any post with an MFA role counts."""
        mfa = set(settings.GRIDGOV["MFA_ROLES"])
        return self.is_superuser or bool(mfa & set(self.roles))

    def password_expired(self, now=None) -> bool:
        max_age = settings.GRIDGOV["PASSWORD_MAX_AGE_DAYS"]
        if not max_age or not self.has_usable_password():
            return False
        changed = self.password_changed_at or self.date_joined
        return changed + timedelta(days=max_age) <= (now or timezone.now())


class PostLike:
    """A post held by a user, primary or extra, as plain ids (no query until `path()`)."""

    __slots__ = ("_path", "department_id", "grid_id", "region_id", "role")

    def __init__(self, role, region_id, grid_id, department_id):
        self.role, self.region_id, self.grid_id, self.department_id = role, region_id, grid_id, department_id

    def path(self) -> str | None:
        if not hasattr(self, "_path"):
            from gridgov.places.models import Grid, Region

            path = None
            if self.grid_id:
                path = Grid.objects.filter(pk=self.grid_id).values_list("path", flat=True).first()
            elif self.region_id:
                path = Region.objects.filter(pk=self.region_id).values_list("path", flat=True).first()
            elif self.department_id:
                path = Region.objects.filter(departments__pk=self.department_id).values_list("path", flat=True).first()
            self._path = path
        return self._path


class Post(models.Model):
    """An extra post (岗位) a user holds beside their primary one, e.g. a community staff
    member who is also grid leader (网格长) of one grid. Scope and rights are the union."""

    user = models.ForeignKey(User, models.CASCADE, related_name="posts", verbose_name=_("用户"))
    role = models.CharField(_("角色"), max_length=24, choices=Role.choices)
    region = models.ForeignKey("places.Region", models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("所属区划"))
    grid = models.ForeignKey("places.Grid", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("所属网格"))
    department = models.ForeignKey(
        "cases.Department", models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("所属部门")
    )
    active = models.BooleanField(_("有效"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("兼任岗位")
        verbose_name_plural = _("兼任岗位")
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "region", "grid", "department"], name="post_unique"),
        ]

    def __str__(self) -> str:
        where = self.grid or self.department or self.region
        return f"{self.user} · {self.get_role_display()} · {where or '-'}"


class RoleAction(models.Model):
    """One right of a role (角色权限): the role may perform this action. The table is the
    permission configuration; `permissions.can()` reads it through a per-process cache."""

    role = models.CharField(_("角色"), max_length=24, choices=Role.choices, db_index=True)
    action = models.CharField(_("操作"), max_length=40)

    class Meta:
        verbose_name = _("角色权限")
        verbose_name_plural = _("角色权限")
        ordering = ["role", "action"]
        constraints = [models.UniqueConstraint(fields=["role", "action"], name="role_action_unique")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.action}"


class ConfigVersion(models.Model):
    """A version counter per piece of cached configuration: every process compares its copy
    with this row (at most once per TTL) so an edit in one process reaches all of them."""

    key = models.CharField(max_length=40, unique=True)
    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class PasswordHistory(models.Model):
    """Hashes of a user's previous passwords, so the last few cannot be used again (R1)."""

    user = models.ForeignKey(User, models.CASCADE, related_name="password_history")
    encoded = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]


class LoginEvent(models.Model):
    """One sign-in event (登录记录): success, failure, lockout or logout, with time and IP."""

    class Kind(models.TextChoices):
        SUCCESS = "success", _("登录成功")
        FAILURE = "failure", _("登录失败")
        LOCKOUT = "lockout", _("账号锁定")
        LOGOUT = "logout", _("退出登录")
        OTP_FAILURE = "otp_failure", _("动态口令错误")
        TIMEOUT = "timeout", _("会话超时")

    user = models.ForeignKey(User, models.CASCADE, null=True, blank=True, related_name="login_events")
    username = models.CharField(_("用户名"), max_length=150)
    kind = models.CharField(_("类型"), max_length=12, choices=Kind.choices)
    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    ip = models.GenericIPAddressField(_("IP地址"), null=True, blank=True)
    user_agent = models.CharField(_("浏览器"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("登录记录")
        verbose_name_plural = _("登录记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"])]


class ApiToken(models.Model):
    """A bearer token for an integration or a client app: stored only as a SHA-256 digest,
    acting as its user (role and jurisdiction), expiring and revocable."""

    user = models.ForeignKey(User, models.CASCADE, related_name="api_tokens", verbose_name=_("用户"))
    name = models.CharField(_("名称"), max_length=80)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # --- scope (accounts): a subset of the user's roles and a node inside their jurisdiction ---
    roles = models.JSONField(_("角色范围"), default=list, blank=True, help_text=_("空表示该用户的全部角色"))
    scope_path = models.CharField(_("辖区范围"), max_length=255, blank=True, help_text=_("空表示该用户的全部辖区"))

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
