"""Insight data. Sections by feature; each section owns its tables.

(The directory `models/` beside this module holds the classifier's artefacts, not Python.)
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# --- duplicates and intake suggestions (issue 5 §1–2) ---------------------------------------


class DuplicateKey(models.Model):
    """One band key of a case's text fingerprint (重复件指纹) in its place bucket; see
    `insight.duplicates`. Written at intake, read by one indexed `key IN (…)` lookup."""

    case = models.ForeignKey("cases.Case", models.CASCADE, related_name="+")
    key = models.BigIntegerField()

    class Meta:
        verbose_name = _("重复件指纹")
        verbose_name_plural = _("重复件指纹")
        indexes = [models.Index(fields=["key"], name="insight_dupkey_key")]


class LabelMapping(models.Model):
    """Which platform category a classifier label (e.g. the message board's 城乡建设) suggests.

    Without a row, a label suggests the first-level category of the same name, if any; with a
    row and no category, the label is shown as a hint only."""

    label = models.CharField(_("模型类别"), max_length=60, unique=True)
    category = models.ForeignKey(
        "cases.Category", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("建议的事件分类"),
    )
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("智能分类映射")
        verbose_name_plural = _("智能分类映射")
        ordering = ["label"]

    def __str__(self) -> str:
        return f"{self.label} → {self.category or '-'}"


class CaseSuggestion(models.Model):
    """The classifier's category suggestion for a case at intake (智能分类建议), and what the
    dispatcher made of it at acceptance and dispatch: the record a retraining learns from."""

    case = models.OneToOneField("cases.Case", models.CASCADE, related_name="insight_suggestion")
    label = models.CharField(_("模型类别"), max_length=60)
    confidence = models.FloatField(_("置信度"))
    alternatives = models.JSONField(_("备选"), default=list)
    model = models.CharField(_("模型文件"), max_length=120)
    category = models.ForeignKey(
        "cases.Category", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("建议分类"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Acceptance (立案): the category the dispatcher chose and whether it was the suggestion.
    final_category = models.ForeignKey(
        "cases.Category", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("确认分类"),
    )
    followed = models.BooleanField(_("采纳建议"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    # First dispatch (派遣): the department the suggested category leads to through the matrix.
    suggested_department = models.ForeignKey(
        "cases.Department", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("建议部门"),
    )
    department_followed = models.BooleanField(_("派遣采纳建议部门"), null=True, blank=True)

    class Meta:
        verbose_name = _("智能分类建议")
        verbose_name_plural = _("智能分类建议")
        indexes = [models.Index(fields=["decided_at"], name="insight_sugg_decided")]

    def __str__(self) -> str:
        return f"{self.label} ({self.confidence:.2f})"
