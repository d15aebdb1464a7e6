"""Audit records (审计记录). The tamper-evident chain, masking and field encryption come
with the protection issue; the record written by every service lives here from day one."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    """One append-only line of the audit log: who did what to which object, when."""

    at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(_("操作"), max_length=60, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=60)
    object_id = models.CharField(_("对象"), max_length=40)
    data = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"


# --- personal-data protection: data keys (envelope encryption) ---------------------------


class SubjectKey(models.Model):
    """The data key (数据密钥) of one data subject, wrapped by a master key version.

    `subject` names the person ("tel:<blind index>", "ric:<blind index>", "row:<uuid>");
    destroying the wrapped key (crypto-shredding, 密码学删除) leaves only noise wherever
    that person's ciphertexts were copied. Written only by `gridgov.privacy.keys`."""

    subject = models.CharField(max_length=80, unique=True)
    master_version = models.PositiveIntegerField()
    cipher = models.CharField(max_length=1, help_text="a: AES-256-GCM, s: SM4-GCM")
    wrapped = models.BinaryField(null=True)
    created_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("数据密钥")
        verbose_name_plural = _("数据密钥")

    def __str__(self) -> str:
        return f"#{self.pk} v{self.master_version}{' (destroyed)' if self.destroyed_at else ''}"
