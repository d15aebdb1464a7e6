import json

from django.core.management.base import BaseCommand

from gridgov.cases.routing import matrix_gaps


class Command(BaseCommand):
    help = "列出权责清单缺口 (分类×层级无责任部门) · List responsibility-matrix gaps"

    def handle(self, *args, **o):
        gaps = matrix_gaps()
        for gap in gaps:
            self.stdout.write(json.dumps(gap, ensure_ascii=False))
        self.stderr.write(f"{len(gaps)} gaps")
