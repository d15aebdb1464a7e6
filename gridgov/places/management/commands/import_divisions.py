from django.core.management.base import BaseCommand, CommandError

from gridgov.errors import DomainError
from gridgov.places import services
from gridgov.places.models import CodeSystem


class Command(BaseCommand):
    help = "导入行政区划代码 (CSV)：城市/区县/街道/社区各列成对，或 code,name[,上级代码] · Import division codes from a CSV"

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8)")
        parser.add_argument("--code-system", choices=CodeSystem.values, default=CodeSystem.NBS,
                            help="nbs: 统计用区划代码 (default); mca: 民政部行政区划代码")
        parser.add_argument("--year", type=int, default=2023, help="year of the code table (default 2023)")
        parser.add_argument("--root", default=None, help="only this region's branch, e.g. 350500")

    def handle(self, *args, **options):
        try:
            summary = services.import_divisions(options["file"], code_system=options["code_system"],
                                                code_year=options["year"], root_code=options["root"])
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} · {exc.message_en}") from None
        created = "，".join(f"{level} {n}" for level, n in summary["created"].items() if n) or "无"
        self.stdout.write(f"区划导入完成：新增 {created}；更新 {summary['updated']}，移动 {summary['moved']}，"
                          f"未变 {summary['unchanged']}（{summary['code_system']} {summary['code_year']}）")
