from django.core.management.base import BaseCommand

from gridgov.cases import catalog
from gridgov.commandutils import write_output


class Command(BaseCommand):
    help = "导出权责清单为 CSV · Export the responsibility matrix as CSV"

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, **o):
        write_output(self, catalog.export_matrix(), o["out"])
