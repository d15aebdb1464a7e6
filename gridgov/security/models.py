"""The rate-limit counter (限流计数): one row per scope, client and time window, shared by
every process through the database."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateCounter(models.Model):
    """Requests counted in one fixed window for one client of one scope.

    ``bucket`` is ``scope:kind:client:window``; ``expires`` (Unix seconds) lets old windows be
    deleted. The table is written with one upsert per request and never read otherwise.
    """

    bucket = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField(default=0)
    expires = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("限流计数")
        verbose_name_plural = _("限流计数")
