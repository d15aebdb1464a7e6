"""gridgov restore FILE --into sqlite:///PATH|postgres://…/NEWDB [--media-into DIR] [--key-file PATH]

Authenticates the whole backup before anything is written (a tampered or truncated file,
or the wrong key, is refused), restores into a fresh SQLite file or a fresh PostgreSQL
database, and compares per-table row counts and SM3 digests with the backup's manifest.
Exit status 1 if anything differs. Each run is appended to var/drills/restore.jsonl.
"""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gridgov.ops import backup


class Command(BaseCommand):
    # The target of a restore may not exist yet: no system check may open the database.
    requires_system_checks = []
    help = "从加密备份恢复并核对 / restore an encrypted backup and verify it"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--into", required=True, help="sqlite:///new.sqlite3 (or a path) or postgres://…/new_database")
        parser.add_argument("--media-into")
        parser.add_argument("--key-file")

    def handle(self, *args, file, into, media_into, key_file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"备份文件不存在 / no such file: {path}")
        started = time.monotonic()
        with backup.drill_log("restore") as record:
            record.update(file=str(path), into=_redact(into))
            try:
                result = backup.restore(path, key=backup.load_key(key_file), into=into,
                                        media_into=Path(media_into) if media_into else None)
            except (backup.BackupError, OSError) as exc:
                record.update(ok=False, error=str(exc))
                raise CommandError(str(exc)) from None
            record.update({k: v for k, v in result.items() if k != "header"}, seconds=round(time.monotonic() - started, 3))
        line = (f"恢复 / restored {result['rows_restored']:,}/{result['rows_expected']:,} rows in {result['tables']} tables "
                f"({result['engine']}, backup of {result['created_at']}) in {record['seconds']} s")
        if not result["ok"]:
            raise CommandError(f"{line}; 不一致 / MISMATCH: tables {result['mismatched_tables']} "
                               f"media {result.get('media_mismatched', [])[:10]}")
        self.stdout.write(line + "; 计数与摘要一致 / counts and digests match")


def _redact(url: str) -> str:
    # A password in a URL never goes to the drill log.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
