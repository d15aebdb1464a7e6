import json

from django.core.management.base import BaseCommand, CommandError

from gridgov.errors import DomainError
from gridgov.places import locate


class Command(BaseCommand):
    help = "查询坐标所在网格，输出 JSON · Which grid is a point in (JSON)"

    def add_arguments(self, parser):
        parser.add_argument("--lat", required=True, help="latitude")
        parser.add_argument("--lon", required=True, help="longitude")
        parser.add_argument("--crs", default="wgs84", help="wgs84 (default), gcj02 (Amap/Tencent/WeChat) or bd09 (Baidu)")

    def handle(self, *args, **options):
        try:
            result = locate.locate(options["lat"], options["lon"], crs=options["crs"])
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} · {exc.message_en}") from None
        out = {
            "found": result.found,
            "grid_code": result.grid_code,
            "grid_name": result.grid_name,
            "micro_grid": result.micro_grid.code if result.micro_grid else None,
            "levels": {a.level: a.name for a in result.ancestors},
            "names": [a.name for a in result.ancestors] + ([result.grid_name] if result.found else []),
            "lat": result.lat,
            "lon": result.lon,
            "reason": result.reason,
        }
        self.stdout.write(json.dumps(out, ensure_ascii=False))
