"""Audit records (审计记录): the append-only, tamper-evident log written by every service.

Records hang on K parallel hash chains (see `chain.py`); signed checkpoints anchor the
chains to a key kept outside the database. Field encryption and masking models follow
the audit models in this module."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditResult(models.TextChoices):
    SUCCESS = "success", _("成功")
    FAILURE = "failure", _("失败")


class AuditRecord(models.Model):
    """One append-only line of the audit log (审计日志): who did what to which object, when,
    from where, and with which result. Each record is a link of one hash chain:
    ``hash = H(prev_hash ‖ canonical(record))``; database triggers refuse UPDATE and DELETE
    (except the controlled retention purge)."""

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    # No database constraint and no cascade: deleting a user must never touch the log.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.DO_NOTHING, null=True, blank=True, related_name="+", db_constraint=False
    )
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True, db_index=True)
    actor_role = models.CharField(_("角色"), max_length=24, blank=True)
    ip = models.CharField(_("来源IP"), max_length=45, blank=True, db_index=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=120, blank=True)
    action = models.CharField(_("操作"), max_length=60, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=60)
    object_id = models.CharField(_("对象"), max_length=40)
    fields = models.JSONField(_("涉及字段"), default=list, blank=True)
    purpose = models.CharField(_("目的"), max_length=40, blank=True)
    result = models.CharField(_("结果"), max_length=8, choices=AuditResult.choices, default=AuditResult.SUCCESS)
    data = models.JSONField(_("详情"), default=dict, blank=True)
    chain = models.PositiveSmallIntegerField(_("链"), default=0)
    seq = models.BigIntegerField(_("链序号"), default=0)
    prev_hash = models.CharField(max_length=80, blank=True)
    hash = models.CharField(max_length=80, blank=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="privacy_audit_chain_seq")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"


class AuditCheckpoint(models.Model):
    """A signed anchor (签名检查点) of one chain: its head ``(seq, hash)`` at a moment, with an
    HMAC under a key that is not in the database. ``kind=purge`` marks where a retention
    purge cut the chain: verification starts after it. Append-only like the records."""

    class Kind(models.TextChoices):
        CHECKPOINT = "checkpoint", _("检查点")
        PURGE = "purge", _("清理起点")

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices, default=Kind.CHECKPOINT)
    chain = models.PositiveSmallIntegerField(_("链"))
    seq = models.BigIntegerField(_("链序号"))
    hash = models.CharField(max_length=80)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=80)

    class Meta:
        verbose_name = _("审计检查点")
        verbose_name_plural = _("审计检查点")
        ordering = ["chain", "seq", "id"]
        indexes = [models.Index(fields=["chain", "kind", "seq"])]

    def __str__(self) -> str:
        return f"{self.kind} chain {self.chain} @ {self.seq}"


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
