from django.core.management.base import BaseCommand, CommandError

from gridgov.errors import DomainError
from gridgov.places import services


class Command(BaseCommand):
    help = "导入网格与微网格 (GeoJSON FeatureCollection, WGS-84) · Import grids and micro-grids"

    def add_arguments(self, parser):
        parser.add_argument("file", help="GeoJSON file")
        parser.add_argument("--replace", action="store_true",
                            help="delete the grids of the file's communities that the file lacks")

    def handle(self, *args, **options):
        try:
            summary = services.import_grids(options["file"], replace=options["replace"])
        except DomainError as exc:
            lines = [f"{exc.message_zh} · {exc.message_en}"]
            lines += [f"  要素 {e.get('feature', '-')}  {e.get('grid', '')}：{e['problem']}" for e in exc.details.get("errors", [])[:20]]
            raise CommandError("\n".join(lines)) from None
        self.stdout.write(
            f"网格导入完成：新增 {summary['grids_created']}，更新 {summary['grids_updated']}，删除 {summary['grids_deleted']}，"
            f"未变 {summary['grids_unchanged']}；微网格新增 {summary['micro_grids_created']}，更新 {summary['micro_grids_updated']}，"
            f"删除 {summary['micro_grids_deleted']}（空间索引版本 {summary['index_version']}）"
        )
        for name, code in summary["codes_assigned"].items():
            self.stdout.write(f"  编号 {code}  {name}")
