"""gridgov sweep-media [--grace SECONDS] [--dry-run]

Deletes uploaded files that no row names (left by a crash or a rolled-back write) once
they are older than --grace (default 3600 s), and lists rows whose file is missing
(exit status 1 if there are any). Run it after a crash and daily.
"""

from django.core.management.base import BaseCommand, CommandError

from gridgov.ops import media


class Command(BaseCommand):
    help = "清理无记录的照片文件并报告缺失文件 / delete orphaned media files, report rows without files"

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=float, default=3600.0)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, grace, dry_run, **options):
        if grace < 0:
            raise CommandError("--grace 不能为负 / --grace must be >= 0")
        result = media.sweep(grace_seconds=grace, dry_run=dry_run)
        verb = "将删除 / would delete" if dry_run else "已删除 / deleted"
        self.stdout.write(f"{verb} {len(result['deleted'])} orphaned files "
                          f"({len(result['files_without_row'])} without a row, grace {grace:.0f} s)")
        if result["rows_without_file"]:
            raise CommandError(f"{len(result['rows_without_file'])} 条记录缺少文件 / rows without their file: "
                               f"{result['rows_without_file'][:20]}")
