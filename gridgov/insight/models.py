"""Data of the insight app.

(The trained classifier artefacts live in the folder ``models/`` beside this module; that
folder is data, not a Python package, and this module wins the import.)
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# =========================================================================================
# Hot spots and early warning (热点与预警)
# =========================================================================================


class RuleKind(models.TextChoices):
    SURGE = "surge", _("类别激增")
    REPEAT_ADDRESS = "repeat_address", _("同一地址重复诉求")
    REPEAT_REPORTER = "repeat_reporter", _("同一人重复诉求")
    ESCALATING_CASE = "escalating_case", _("矛盾升级（反复重开/上报）")
    DISPUTE_CLUSTER = "dispute_cluster", _("纠纷类事件集中")
    OVERDUE_PILEUP = "overdue_pileup", _("部门超期积压")


class Severity(models.TextChoices):
    LOW = "low", _("一般")
    MEDIUM = "medium", _("较重")
    HIGH = "high", _("严重")


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class WarningState(models.TextChoices):
    OPEN = "open", _("待处理")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    CLOSED = "closed", _("已关闭")


class WarningRule(models.Model):
    """An early-warning rule (预警规则): a kind of test with its thresholds as data, editable
    in the admin; `gridgov insight scan` evaluates every enabled rule. The parameters of each
    kind and their defaults are documented in `gridgov.insight.warnings` and docs/insight.md."""

    code = models.SlugField(_("规则编码"), max_length=40, unique=True)
    name = models.CharField(_("规则名称"), max_length=100)
    kind = models.CharField(_("规则类型"), max_length=20, choices=RuleKind.choices)
    enabled = models.BooleanField(_("启用"), default=True)
    params = models.JSONField(_("参数"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("预警规则")
        verbose_name_plural = _("预警规则")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class EarlyWarningQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view") -> "EarlyWarningQuerySet":
        """Warnings this user may see: those whose scope node lies in their territory, for
        the roles that work with warnings (residents and departments never)."""
        from gridgov.accounts.scoping import path_scope_q
        from gridgov.insight.permissions import may

        if user is None or not user.is_authenticated or not may(user, "view"):
            return self.none()
        return self.filter(path_scope_q(user, "scope_path"))


class EarlyWarning(models.Model):
    """An early warning (预警): a rule fired for one subject (a grid × category, an address,
    a reporter, a case, a department), with its evidence, the node it concerns and who owns
    it. It is raised once while open (a later firing refreshes it), then acknowledged
    (已确认), turned into a case, or closed."""

    rule = models.ForeignKey(WarningRule, models.PROTECT, related_name="warnings", verbose_name=_("规则"))
    kind = models.CharField(_("规则类型"), max_length=20, choices=RuleKind.choices)
    subject_key = models.CharField(_("预警对象"), max_length=120)
    severity = models.CharField(_("严重程度"), max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    state = models.CharField(_("状态"), max_length=14, choices=WarningState.choices, default=WarningState.OPEN)
    title = models.CharField(_("标题"), max_length=200)
    evidence = models.JSONField(_("依据"), default=dict, blank=True)

    region = models.ForeignKey("places.Region", models.PROTECT, related_name="+", verbose_name=_("所在区划"))
    grid = models.ForeignKey("places.Grid", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("网格"))
    category = models.ForeignKey("cases.Category", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("分类"))
    scope_path = models.CharField(max_length=255, db_index=True, editable=False)
    owner_region = models.ForeignKey("places.Region", models.PROTECT, related_name="+", verbose_name=_("责任层级"))
    owner_department = models.ForeignKey(
        "cases.Department", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("责任部门")
    )

    raised_at = models.DateTimeField(_("预警时间"))
    last_seen_at = models.DateTimeField(_("最近触发时间"))
    fire_count = models.PositiveIntegerField(_("触发次数"), default=1)
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.TextField(_("处理说明"), blank=True)
    case = models.ForeignKey("cases.Case", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("转立案件"))

    objects = EarlyWarningQuerySet.as_manager()

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        ordering = ["-raised_at", "-id"]
        constraints = [
            # Deduplication: one warning per rule and subject until it is closed.
            models.UniqueConstraint(
                fields=["rule", "subject_key"], condition=~models.Q(state="closed"), name="warning_open_subject_unique"
            ),
        ]
        indexes = [models.Index(fields=["state", "severity"], name="warning_state_severity")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class CaseDayCount(models.Model):
    """The daily rollup of cases by place and category (案件日汇总): how many cases were
    reported on one local day in one grid (or region, for cases without a grid) and category.
    Hot spots and the surge rule read it instead of the case table; `refresh_rollup`
    rewrites the recent days, `RollupState` says which days it covers."""

    day = models.DateField()
    scope_path = models.CharField(max_length=255)
    # No index of their own: every read is by day range (the covering index below), and a
    # per-grid index would tempt the planner away from it.
    region = models.ForeignKey("places.Region", models.CASCADE, related_name="+", db_index=False)
    grid = models.ForeignKey("places.Grid", models.CASCADE, null=True, blank=True, related_name="+", db_index=False)
    category = models.ForeignKey("cases.Category", models.CASCADE, null=True, blank=True, related_name="+", db_index=False)
    cases = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("案件日汇总")
        verbose_name_plural = _("案件日汇总")
        indexes = [
            # Covering: a window's counts are read from the index alone (an index-only scan
            # on PostgreSQL, a covering index on SQLite); the jurisdiction's path prefix is
            # tested on the index entries, since neither database can seek on LIKE 'x%'
            # with its default collation.
            models.Index(fields=["day", "scope_path", "grid", "category", "cases"], name="casedaycount_covering"),
        ]


class RollupState(models.Model):
    """One row: the last local day fully written into `CaseDayCount` (later days are read
    from the case table), and the moment and window of the `HotspotCell` snapshot.
    Refreshes lock it so that two workers never write the same rows."""

    built_through = models.DateField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    snapshot_until = models.DateTimeField(null=True, blank=True)
    snapshot_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("汇总进度")
        verbose_name_plural = _("汇总进度")


class HotspotCell(models.Model):
    """The hot-spot counts of the default window as of the last scan (热点快照): one row per
    place × category with cases in the window, and its count in the window before. The
    default hot-spot list and map read these few thousand rows instead of counting the
    window's cases on every request."""

    scope_path = models.CharField(max_length=255)
    region = models.ForeignKey("places.Region", models.CASCADE, related_name="+", db_index=False)
    grid = models.ForeignKey("places.Grid", models.CASCADE, null=True, blank=True, related_name="+", db_index=False)
    category = models.ForeignKey("cases.Category", models.CASCADE, null=True, blank=True, related_name="+", db_index=False)
    cases = models.PositiveIntegerField(default=0)
    previous = models.PositiveIntegerField(default=0)
    recent = models.JSONField(default=list, blank=True, help_text="ids of the most recent cases (up to 3)")

    class Meta:
        verbose_name = _("热点快照")
        verbose_name_plural = _("热点快照")


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
