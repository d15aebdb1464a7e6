"""Cases and what routes them: departments, categories, the responsibility matrix, the
working calendar, and the case with its timeline, assignments and photos."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridgov.places.models import Region, RegionLevel
from gridgov.privacy.fields import BlindIndexField, EncryptedTextField, RowUidField, SubjectKeyField

from .choices import (
    CaseType,
    CategoryKind,
    Channel,
    Closure,
    DayKind,
    ExtensionState,
    LimitUnit,
    PhotoKind,
    SlaState,
    Status,
    Urgency,
)


class Department(models.Model):
    """A functional department (职能部门) at a node of the tree: a district's 城管局, a
    street's 综合执法队, a community's 物业办…"""

    code = models.CharField(_("部门编码"), max_length=40, unique=True)
    name = models.CharField(_("部门名称"), max_length=100)
    region = models.ForeignKey(Region, models.PROTECT, related_name="departments", verbose_name=_("所在层级区划"))
    active = models.BooleanField(_("启用"), default=True)
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("职能部门")
        verbose_name_plural = _("职能部门")
        ordering = ["region__path", "code"]

    def __str__(self) -> str:
        return f"{self.region.name}{self.name}"


class Category(models.Model):
    """A case category (事件/部件分类): 大类 at level 1, 小类 below, with its time limits,
    case type, and whether verification and on-the-spot resolution apply."""

    code = models.CharField(_("分类编码"), max_length=20, unique=True)
    name = models.CharField(_("分类名称"), max_length=100)
    parent = models.ForeignKey("self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("上级分类"))
    depth = models.PositiveSmallIntegerField(_("层级"), default=1, editable=False)
    kind = models.CharField(_("类型"), max_length=12, choices=CategoryKind.choices, default=CategoryKind.EVENT)
    source = models.CharField(_("来源"), max_length=40, blank=True, help_text=_("CJ/T 214、12345分类…"))
    case_type = models.CharField(_("办件类型"), max_length=12, choices=CaseType.choices, default=CaseType.PROMISED)
    normal_limit = models.PositiveIntegerField(_("一般时限"), default=5)
    normal_limit_unit = models.CharField(_("一般时限单位"), max_length=16, choices=LimitUnit.choices, default=LimitUnit.WORKING_DAYS)
    urgent_limit_hours = models.PositiveIntegerField(_("紧急时限 (自然小时)"), default=24)
    verification_required = models.BooleanField(_("需核查"), default=True)
    self_resolvable = models.BooleanField(_("网格员可自办结"), default=False)
    escalate_when_overdue = models.BooleanField(_("超期自动上报上级"), default=True)
    duplicate_radius_m = models.PositiveIntegerField(_("重复判定半径 (米)"), default=100)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        self.depth = self.parent.depth + 1 if self.parent_id else 1
        super().save(*args, **kwargs)

    def limit_for(self, urgency: str) -> tuple[int, str]:
        """The time limit (amount, unit) for an urgency."""
        if urgency == Urgency.URGENT:
            return self.urgent_limit_hours, LimitUnit.CALENDAR_HOURS
        return self.normal_limit, self.normal_limit_unit


class ResponsibilityRule(models.Model):
    """One row of the responsibility matrix (权责清单): at this level (and optionally only
    in this region's subtree), this category goes to this department."""

    category = models.ForeignKey(Category, models.CASCADE, related_name="rules", verbose_name=_("分类"))
    level = models.CharField(_("层级"), max_length=12, choices=RegionLevel.choices)
    region = models.ForeignKey(
        Region, models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("限定区划"),
        help_text=_("为空表示该层级所有区划通用"),
    )
    department_name = models.CharField(
        _("责任部门名称"), max_length=100,
        help_text=_("在案件所在区划该层级下按名称匹配部门，例如“城管局”"),
    )
    department = models.ForeignKey(
        Department, models.CASCADE, null=True, blank=True, related_name="rules", verbose_name=_("指定部门"),
        help_text=_("指定具体部门时优先于名称匹配"),
    )
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("权责清单条目")
        verbose_name_plural = _("权责清单")
        ordering = ["category__code", "level"]

    def __str__(self) -> str:
        return f"{self.category} @ {self.get_level_display()} → {self.department or self.department_name}"


class CalendarYear(models.Model):
    """Whether a year's official holiday schedule (国务院办公厅放假安排) has been entered."""

    year = models.PositiveSmallIntegerField(_("年份"), unique=True)
    published = models.BooleanField(_("已录入官方安排"), default=False)
    source = models.CharField(_("来源"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("工作日历年度")
        verbose_name_plural = _("工作日历年度")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """An exception to the Monday–Friday week: a statutory holiday or a make-up working day (调休)."""

    date = models.DateField(_("日期"), unique=True)
    kind = models.CharField(_("类型"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("名称"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("节假日/调休日")
        verbose_name_plural = _("节假日/调休日")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}"


class CaseNumberCounter(models.Model):
    """The daily serial behind case numbers (`350502-20261124-00017`), one row per prefix
    and day; it is never capped."""

    prefix = models.CharField(max_length=12)
    day = models.DateField()
    last = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "day"], name="case_counter_prefix_day")]


class CaseQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view") -> "CaseQuerySet":
        """Cases this user may see: their territory's, their department's, their own reports."""
        from gridgov.accounts.models import Role
        from gridgov.accounts.scoping import path_scope_q

        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        # Every branch is an indexed condition or a semi-join on an indexed column, so the
        # planner can combine index scans instead of testing each row of the case table.
        q = path_scope_q(user, "scope_path") | models.Q(reporter=user)
        if CaseFollower.objects.filter(user=user).exists():
            q |= models.Q(pk__in=CaseFollower.objects.filter(user=user).values("case_id"))
        if user.role == Role.DEPARTMENT_HANDLER and user.department_id:
            q |= models.Q(pk__in=Assignment.objects.filter(department_id=user.department_id).values("case_id"))
        return self.filter(q)


class Case(models.Model):
    """A case (事件/案件): something reported in a grid that someone must act on, followed
    through the closed loop until it is closed and evaluated."""

    number = models.CharField(_("案件编号"), max_length=32, unique=True)
    channel = models.CharField(_("来源渠道"), max_length=12, choices=Channel.choices)
    title = models.CharField(_("标题"), max_length=200)
    description = models.TextField(_("描述"), blank=True)
    category = models.ForeignKey(Category, models.PROTECT, null=True, blank=True, related_name="cases", verbose_name=_("分类"))
    urgency = models.CharField(_("紧急程度"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    case_type = models.CharField(_("办件类型"), max_length=12, choices=CaseType.choices, blank=True)

    lat = models.FloatField(_("纬度 (WGS-84)"), null=True, blank=True)
    lon = models.FloatField(_("经度 (WGS-84)"), null=True, blank=True)
    address = models.CharField(_("地址"), max_length=255, blank=True)
    grid = models.ForeignKey("places.Grid", models.PROTECT, null=True, blank=True, related_name="cases", verbose_name=_("网格"))
    region = models.ForeignKey(Region, models.PROTECT, related_name="cases", verbose_name=_("所属区划"))
    scope_path = models.CharField(max_length=255, db_index=True, editable=False)

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="reported_cases", verbose_name=_("上报人")
    )
    # Personal data: encrypted at rest under the reporter's data key, masked when shown.
    reporter_name = EncryptedTextField(_("上报人姓名"), kind="name")
    reporter_phone = EncryptedTextField(_("上报人电话"), kind="phone", identifies=True)
    reporter_phone_bidx = BlindIndexField(source="reporter_phone")
    pi_uid = RowUidField()
    pi_subject = SubjectKeyField()
    reporter_public_anonymous = models.BooleanField(_("对公众匿名"), default=True)

    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.REPORTED)
    is_open = models.BooleanField(default=True, editable=False)
    closure = models.CharField(_("结案类型"), max_length=16, choices=Closure.choices, blank=True)
    closure_note = models.TextField(_("结案说明"), blank=True)
    responsible_party = models.CharField(_("责任主体"), max_length=200, blank=True)
    duplicate_of = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="duplicates", verbose_name=_("重复于"))

    owner_region = models.ForeignKey(Region, models.PROTECT, related_name="owned_cases", verbose_name=_("当前责任层级"))
    owner_department = models.ForeignKey(
        Department, models.PROTECT, null=True, blank=True, related_name="owned_cases", verbose_name=_("当前责任部门")
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="owned_cases", verbose_name=_("当前处理人")
    )

    reported_at = models.DateTimeField(_("上报时间"), db_index=True)
    accepted_at = models.DateTimeField(_("立案时间"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("派遣时间"), null=True, blank=True)
    handled_at = models.DateTimeField(_("处置反馈时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True, db_index=True)
    due_at = models.DateTimeField(_("处置时限"), null=True, blank=True)
    warn_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    sla_state = models.CharField(_("时限状态"), max_length=10, choices=SlaState.choices, default=SlaState.NONE)
    closed_on_time = models.BooleanField(_("按期结案"), null=True, blank=True)
    review_on = models.DateField(_("挂账复查日期"), null=True, blank=True)

    rework_count = models.PositiveIntegerField(_("返工次数"), default=0)
    supervision_count = models.PositiveIntegerField(_("督办次数"), default=0)
    escalation_count = models.PositiveIntegerField(_("上报次数"), default=0)
    reopen_count = models.PositiveIntegerField(_("重新打开次数"), default=0)
    self_resolved = models.BooleanField(_("自办结"), default=False)
    result = models.TextField(_("处置结果"), blank=True)

    rating = models.PositiveSmallIntegerField(_("评价 (1–5)"), null=True, blank=True)
    rating_comment = models.TextField(_("评价意见"), blank=True)
    evaluated_at = models.DateTimeField(_("评价时间"), null=True, blank=True)
    evaluated_by_callback = models.BooleanField(_("回访评价"), default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        ordering = ["-reported_at", "-id"]
        indexes = [
            # The overdue list and the SLA sweep read only open cases by deadline.
            models.Index(fields=["is_open", "due_at"], name="case_open_due"),
            models.Index(fields=["is_open", "warn_at"], name="case_open_warn"),
            models.Index(fields=["status", "reported_at"], name="case_status_reported"),
            models.Index(fields=["owner_department", "is_open"], name="case_dept_open"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class CaseFollower(models.Model):
    """A reporter following a case; reporters of merged duplicates follow the survivor."""

    case = models.ForeignKey(Case, models.CASCADE, related_name="followers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="+")
    name = EncryptedTextField(kind="name")
    phone = EncryptedTextField(kind="phone", identifies=True)
    phone_bidx = BlindIndexField(source="phone")
    pi_uid = RowUidField()
    pi_subject = SubjectKeyField()
    origin = models.ForeignKey(Case, models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("关注人")
        verbose_name_plural = _("关注人")


class Assignment(models.Model):
    """One dispatch (派遣) of a case to a department or a region, and how it ended."""

    case = models.ForeignKey(Case, models.CASCADE, related_name="assignments")
    department = models.ForeignKey(Department, models.PROTECT, null=True, blank=True, related_name="assignments")
    region = models.ForeignKey(Region, models.PROTECT, related_name="+")
    from_region = models.ForeignKey(Region, models.PROTECT, related_name="+", help_text=_("派遣时的指挥层级"))
    dispatched_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    dispatched_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    suggestion_source = models.CharField(max_length=40, blank=True, help_text=_("matrix / classifier / manual"))
    followed_suggestion = models.BooleanField(null=True, blank=True)

    class Meta:
        verbose_name = _("派遣记录")
        verbose_name_plural = _("派遣记录")
        ordering = ["dispatched_at", "id"]


class Notification(models.Model):
    """A message to a user about a case (督办, closure of a followed case…); the delivery
    channels (SMS, WeCom) come later and read from here."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="notifications")
    case = models.ForeignKey(Case, models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]


class ExtensionRequest(models.Model):
    """A request for more time (延期申请), decided by the dispatcher."""

    case = models.ForeignKey(Case, models.CASCADE, related_name="extension_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    requested_at = models.DateTimeField()
    extra_working_days = models.PositiveIntegerField()
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=ExtensionState.choices, default=ExtensionState.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")


class CasePhoto(models.Model):
    """A photo attached to a case at some step (report, before/after, feedback, verification)."""

    case = models.ForeignKey(Case, models.CASCADE, related_name="photos")
    kind = models.CharField(max_length=10, choices=PhotoKind.choices)
    image = models.ImageField(upload_to="cases/%Y/%m/")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("案件照片")
        verbose_name_plural = _("案件照片")


class TimelineEntry(models.Model):
    """One step of a case's visible history (时间线), written by the service that made it."""

    case = models.ForeignKey(Case, models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    public = models.BooleanField(default=True, help_text=_("公众可见 (不含人员姓名)"))

    class Meta:
        verbose_name = _("时间线")
        verbose_name_plural = _("时间线")
        ordering = ["at", "id"]
