from django.core.management.base import BaseCommand

from gridgov.cases import catalog


class Command(BaseCommand):
    help = "导出事件分类为 CSV · Export categories as CSV"

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, **o):
        text = catalog.export_categories()
        if o["out"]:
            with open(o["out"], "w", encoding="utf-8") as f:
                f.write(text)
        else:
            self.stdout.write(text, ending="")
