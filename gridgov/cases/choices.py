"""Enumerations of the case domain, with their Chinese labels."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("部件")
    EVENT = "event", _("事件")


class CaseType(models.TextChoices):
    IMMEDIATE = "immediate", _("即办件")
    PROMISED = "promised", _("承诺件")
    COORDINATED = "coordinated", _("协调件")


class LimitUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("工作日")
    WORKING_HOURS = "working_hours", _("工作小时")
    CALENDAR_HOURS = "calendar_hours", _("自然小时")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")


class Channel(models.TextChoices):
    PATROL = "patrol", _("网格员巡查")
    RESIDENT = "resident", _("居民上报")
    HOTLINE = "hotline", _("12345热线")
    VIDEO = "video", _("视频/物联感知")
    OPEN311 = "open311", _("Open311接口")
    WALK_IN = "walk_in", _("来访/来电")


class Status(models.TextChoices):
    REPORTED = "reported", _("待受理")
    ACCEPTED = "accepted", _("已立案待派遣")
    DISPATCHED = "dispatched", _("已派遣待签收")
    IN_HANDLING = "in_handling", _("处置中")
    RETURNED = "returned", _("已退回待重派")
    HANDLED = "handled", _("已处置待核查")
    LONG_STANDING = "long_standing", _("挂账")
    CLOSED = "closed", _("已结案")
    EVALUATED = "evaluated", _("已评价")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已合并")


OPEN_STATUSES = frozenset(
    {
        Status.REPORTED,
        Status.ACCEPTED,
        Status.DISPATCHED,
        Status.IN_HANDLING,
        Status.RETURNED,
        Status.HANDLED,
        Status.LONG_STANDING,
    }
)
# States in which the handling clock runs (a long-standing case waits for its review date).
CLOCK_STATUSES = frozenset({Status.ACCEPTED, Status.DISPATCHED, Status.IN_HANDLING, Status.RETURNED, Status.HANDLED})


class Closure(models.TextChoices):
    RESOLVED = "resolved", _("已解决")
    NOT_RESOLVABLE = "not_resolvable", _("无法解决")
    NOT_OURS = "not_ours", _("非本辖区/部门职责")
    DUPLICATE = "duplicate", _("重复件")
    REJECTED = "rejected", _("不予立案")


class SlaState(models.TextChoices):
    NONE = "none", _("无时限")
    NORMAL = "normal", _("正常")
    WARNING = "warning", _("预警")
    OVERDUE = "overdue", _("超期")


class PhotoKind(models.TextChoices):
    REPORT = "report", _("上报照片")
    BEFORE = "before", _("处置前")
    AFTER = "after", _("处置后")
    FEEDBACK = "feedback", _("处置反馈")
    VERIFY = "verify", _("核查照片")


class ExtensionState(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已批准")
    REFUSED = "refused", _("已驳回")


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("法定节假日")
    WORKDAY = "workday", _("调休上班")
