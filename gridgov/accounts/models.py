"""Users, their role and their node of the territory (辖区)."""

from django.contrib.auth.models import AbstractUser
from django.db import models
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
    AUDITOR = "auditor", _("审计员")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")


STAFF_ROLES = {r for r in Role if r != Role.RESIDENT}


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

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
