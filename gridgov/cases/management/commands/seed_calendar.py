"""gridgov seed-calendar [--from YEAR] [--to YEAR] [--force]

Copies the official holiday schedule from the pinned chinese-calendar package into the
working calendar (idempotent). Years the package does not cover are listed as missing
and get an unpublished row, to be entered in the admin once the State Council publishes
them. Years entered by hand are kept unless --force.
"""

from django.core.management.base import BaseCommand, CommandError

from gridgov.cases.calendar import package_years, seed_from_chinese_calendar


def _year(value: str) -> int:
    try:
        year = int(value)
    except ValueError:
        raise CommandError(f"不是年份: {value!r}") from None
    if not 1900 <= year <= 2200:
        raise CommandError(f"年份超出范围: {year}")
    return year


class Command(BaseCommand):
    help = "Seed the working calendar (holidays, make-up working days) from chinese-calendar."

    def add_arguments(self, parser):
        covered = package_years()
        parser.add_argument("--from", dest="first", help=f"first year (default {covered.start})")
        parser.add_argument("--to", dest="last", help=f"last year (default {covered.stop - 1})")
        parser.add_argument("--force", action="store_true", help="overwrite years entered by hand")

    def handle(self, *args, first=None, last=None, force=False, **options):
        covered = package_years()
        first = _year(first) if first is not None else covered.start
        last = _year(last) if last is not None else covered.stop - 1
        if first > last:
            raise CommandError(f"--from {first} is after --to {last}")
        report = seed_from_chinese_calendar(range(first, last + 1), force=force)
        self.stdout.write(
            f"seeded {len(report['seeded'])} years ({_span(report['seeded'])}): "
            f"{report['created']} days created, {report['updated']} updated, {report['deleted']} deleted"
        )
        if report["kept"]:
            self.stdout.write(f"kept (entered by hand; --force to overwrite): {_span(report['kept'])}")
        if report["missing"]:
            self.stderr.write(
                self.style.WARNING(
                    f"not covered by chinese-calendar: {_span(report['missing'])} — "
                    "weekends only until entered in the admin (工作日历年度)"
                )
            )


def _span(years: list[int]) -> str:
    if not years:
        return "-"
    if years == list(range(years[0], years[-1] + 1)) and len(years) > 2:
        return f"{years[0]}–{years[-1]}"
    return ", ".join(str(y) for y in years)
