"""What operations store: the idempotency keys that make a retried write safe."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """An idempotency key (幂等键) a client sent with a write, and the answer it got.

    A retry with the same key from the same user gets that answer again instead of a second
    write. The unique constraint, not a check before the insert, is what makes two racing
    requests with one key produce one write: the row is inserted in the same transaction as
    the write it stands for, so they commit or vanish together."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    scope = models.CharField(_("接口"), max_length=40)
    key = models.CharField(_("幂等键"), max_length=200)
    fingerprint = models.CharField(_("请求摘要"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("状态码"))
    # JSON as text, not JSONField: PostgreSQL's jsonb reorders keys, and a replay must be
    # the original answer byte for byte.
    response = models.TextField(_("响应"))
    created_at = models.DateTimeField(_("创建时间"))
    expires_at = models.DateTimeField(_("过期时间"), db_index=True)

    class Meta:
        verbose_name = _("幂等键")
        verbose_name_plural = _("幂等键")
        constraints = [models.UniqueConstraint(fields=["user", "scope", "key"], name="ops_idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
