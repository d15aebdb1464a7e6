from django.core.management.base import BaseCommand

from gridgov.cases import catalog
from gridgov.commandutils import write_output


class Command(BaseCommand):
    help = "导出事件分类为 CSV · Export categories as CSV"

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, **o):
        write_output(self, catalog.export_categories(), o["out"])
