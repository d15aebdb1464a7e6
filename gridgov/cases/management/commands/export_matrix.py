from django.core.management.base import BaseCommand

from gridgov.cases import catalog


class Command(BaseCommand):
    help = "导出权责清单为 CSV · Export the responsibility matrix"

    def add_arguments(self, parser):
        parser.add_argument("--out")

    def handle(self, *args, **o):
        text = catalog.export_matrix()
        if o["out"]:
            with open(o["out"], "w", encoding="utf-8") as f:
                f.write(text)
        else:
            self.stdout.write(text, ending="")
