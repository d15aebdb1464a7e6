from django.core.management.base import BaseCommand

from gridgov.cases import catalog
from gridgov.commandutils import domain_errors


class Command(BaseCommand):
    help = "导入事件分类 CSV (gridgov 格式或 一级/二级/三级分类 格式) · Import categories from CSV"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", choices=["gridgov", "taxonomy"], default="gridgov")
        parser.add_argument("--prefix", default="H", help="code prefix for a taxonomy import")
        parser.add_argument("--width", type=int, default=2, help="digits per level for a taxonomy import")
        parser.add_argument("--source", default="12345", help="source label for a taxonomy import")

    @domain_errors
    def handle(self, *args, **o):
        if o["format"] == "taxonomy":
            result = catalog.import_taxonomy(o["file"], prefix=o["prefix"], width=o["width"], source_name=o["source"])
        else:
            result = catalog.import_categories(o["file"])
        self.stdout.write(f"{result}")
