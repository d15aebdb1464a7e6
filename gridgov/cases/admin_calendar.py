"""Admin of the working calendar: years (with a form to enter a newly published
schedule) and the individual holidays / make-up working days.

Imported by ``gridgov.cases.admin``; importing it twice is harmless (it registers only
once).
"""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .calendar import (
    calendar_warning_message,
    enter_year,
    package_years,
    seed_from_chinese_calendar,
    unpublished_years,
)
from .choices import DayKind
from .models import CalendarDay, CalendarYear


def _warn_unpublished(request) -> None:
    try:
        missing = unpublished_years()
    except Exception:
        return
    if missing:
        messages.warning(request, calendar_warning_message(missing))


def parse_day_lines(text: str, field: str) -> dict[dt.date, str]:
    """Lines like "2027-01-01 元旦" (the name is optional; commas and tabs also separate)."""
    out: dict[dt.date, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").replace("\t", " ").replace("，", " ").split(None, 1)
        try:
            day = dt.date.fromisoformat(parts[0])
        except ValueError:
            raise ValidationError(f"{field}第 {number} 行：日期应为 YYYY-MM-DD，收到 “{parts[0]}”") from None
        out[day] = parts[1].strip() if len(parts) > 1 else ""
    return out


class CalendarYearForm(forms.ModelForm):
    holidays_text = forms.CharField(
        label=_("法定节假日 (每行一天: 日期 名称)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "placeholder": "2027-01-01 元旦\n2027-02-06 春节"}),
        help_text=_("按国务院办公厅通知逐日填写放假日期（含放假期间的周末）。填写后将替换该年全部节假日与调休记录。"),
    )
    workdays_text = forms.CharField(
        label=_("调休上班日 (每行一天: 日期 名称)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "2027-02-20 春节"}),
        help_text=_("需要上班的周六、周日。"),
    )

    class Meta:
        model = CalendarYear
        fields = ["year", "published", "source"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            days = CalendarDay.objects.filter(date__year=self.instance.year)
            self.fields["holidays_text"].initial = "\n".join(
                f"{d.date.isoformat()} {d.name}".strip() for d in days if d.kind == DayKind.HOLIDAY
            )
            self.fields["workdays_text"].initial = "\n".join(
                f"{d.date.isoformat()} {d.name}".strip() for d in days if d.kind == DayKind.WORKDAY
            )

    def clean(self):
        data = super().clean()
        year = data.get("year")
        try:
            data["holidays"] = parse_day_lines(data.get("holidays_text", ""), "法定节假日")
            data["workdays"] = parse_day_lines(data.get("workdays_text", ""), "调休上班日")
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        if year:
            for label, days in (("法定节假日", data["holidays"]), ("调休上班日", data["workdays"])):
                wrong = sorted(d for d in days if d.year != year)
                if wrong:
                    raise ValidationError(f"{label}中的日期不在 {year} 年内: " + ", ".join(d.isoformat() for d in wrong))
            if data.get("published") and not data["holidays"]:
                raise ValidationError("标记为“已录入官方安排”时，请填写法定节假日。")
        return data


@admin.action(description=_("从 chinese-calendar 导入所选年份"))
def seed_selected(modeladmin, request, queryset):
    years = sorted(queryset.values_list("year", flat=True))
    report = seed_from_chinese_calendar(years)
    if report["seeded"]:
        messages.success(request, f"已导入: {', '.join(map(str, report['seeded']))}")
    if report["kept"]:
        messages.info(request, f"手工录入的年份未覆盖: {', '.join(map(str, report['kept']))}")
    if report["missing"]:
        covered = package_years()
        messages.warning(
            request,
            f"chinese-calendar 仅覆盖 {covered.start}–{covered.stop - 1} 年，以下年份需手工录入: "
            + ", ".join(map(str, report["missing"])),
        )


class CalendarYearAdmin(admin.ModelAdmin):
    form = CalendarYearForm
    list_display = ["year", "published", "source", "holiday_count", "workday_count"]
    list_filter = ["published"]
    search_fields = ["year", "source"]
    actions = [seed_selected]
    fieldsets = [
        (None, {"fields": ["year", "published", "source"]}),
        (_("官方放假安排"), {"fields": ["holidays_text", "workdays_text"]}),
    ]

    @admin.display(description=_("节假日天数"))
    def holiday_count(self, obj):
        return CalendarDay.objects.filter(date__year=obj.year, kind=DayKind.HOLIDAY).count()

    @admin.display(description=_("调休上班天数"))
    def workday_count(self, obj):
        return CalendarDay.objects.filter(date__year=obj.year, kind=DayKind.WORKDAY).count()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        days_changed = {"holidays_text", "workdays_text"} & set(form.changed_data)
        if days_changed or obj.published:
            try:
                saved = enter_year(
                    obj.year, data["holidays"], data["workdays"], obj.source, published=obj.published
                )
            except ValidationError as exc:  # checked in the form already; keep the admin alive
                messages.error(request, "；".join(exc.messages))
                return
            obj.pk = saved.pk
        else:
            obj.save()

    def changelist_view(self, request, extra_context=None):
        _warn_unpublished(request)
        return super().changelist_view(request, extra_context)


class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "weekday", "kind", "name"]
    list_filter = ["kind"]
    search_fields = ["name", "date"]
    date_hierarchy = "date"
    ordering = ["-date"]

    @admin.display(description=_("星期"))
    def weekday(self, obj):
        return "一二三四五六日"[obj.date.weekday()]

    def changelist_view(self, request, extra_context=None):
        _warn_unpublished(request)
        return super().changelist_view(request, extra_context)


def register(site=admin.site) -> None:
    for model, model_admin in ((CalendarYear, CalendarYearAdmin), (CalendarDay, CalendarDayAdmin)):
        if not site.is_registered(model):
            site.register(model, model_admin)


register()
