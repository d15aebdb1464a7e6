"""Seed the working calendar from the chinese-calendar package at migrate time, so that no
deployment counts deadlines without the official holidays. Years the package does not cover
stay unpublished (weekends only, with an admin warning) until an administrator enters them."""

from django.db import migrations

NAMES_ZH = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def seed(apps, schema_editor):
    import chinese_calendar

    CalendarYear = apps.get_model("cases", "CalendarYear")
    CalendarDay = apps.get_model("cases", "CalendarDay")
    source = f"chinese-calendar {chinese_calendar.__version__}"
    days = {}
    for kind, table in (("holiday", chinese_calendar.holidays), ("workday", chinese_calendar.workdays)):
        for date, holiday in table.items():
            english = str(getattr(holiday, "value", holiday))
            days[date] = (kind, NAMES_ZH.get(english, english)[:40])
    years = sorted({d.year for d in days})
    existing = set(CalendarDay.objects.values_list("date", flat=True))
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=d, kind=k, name=n) for d, (k, n) in sorted(days.items()) if d not in existing], batch_size=500
    )
    for year in years:
        CalendarYear.objects.update_or_create(year=year, defaults={"published": True, "source": source})


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
