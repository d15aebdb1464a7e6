import json

from django.core.management.base import BaseCommand, CommandError

from gridgov.commandutils import write_output
from gridgov.errors import DomainError
from gridgov.places import services


class Command(BaseCommand):
    help = "导出网格与微网格为 GeoJSON · Export grids and micro-grids as GeoJSON"

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write (default: standard output)")
        parser.add_argument("--region", help="only grids under this region code")

    def handle(self, *args, **options):
        try:
            data = services.export_grids(options["region"])
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} · {exc.message_en}") from None
        write_output(self, json.dumps(data, ensure_ascii=False), options["out"])
        if options["out"]:
            self.stderr.write(f"已导出 {len(data['features'])} 个要素到 {options['out']}")
