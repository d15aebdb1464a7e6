from django.core.management.base import BaseCommand

from gridgov.cases import catalog
from gridgov.commandutils import domain_errors


class Command(BaseCommand):
    help = "导入权责清单 CSV · Import the responsibility matrix"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--replace", action="store_true", help="delete existing rules first")

    @domain_errors
    def handle(self, *args, **o):
        self.stdout.write(f"{catalog.import_matrix(o['file'], replace=o['replace'])}")
