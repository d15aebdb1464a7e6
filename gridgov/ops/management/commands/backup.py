"""gridgov backup --out FILE [--cipher aes-256-gcm|sm4-gcm] [--key-file PATH] [--no-media]

An encrypted, authenticated backup of the database and uploaded media (gridgov.ops.backup).
Safe while the application keeps writing. The key comes from GRIDGOV_BACKUP_KEY (64 hex
digits) or the file named by --key-file / GRIDGOV_BACKUP_KEY_FILE, never the repository.
"""

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gridgov.ops import backup


class Command(BaseCommand):
    # The target of a restore may not exist yet: no system check may open the database.
    requires_system_checks = []
    help = "加密备份数据库与照片 / encrypted backup of the database and media"

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True)
        parser.add_argument("--cipher", choices=sorted(backup.CIPHERS), default="aes-256-gcm")
        parser.add_argument("--key-file")
        parser.add_argument("--no-media", action="store_true")

    def handle(self, *args, out, cipher, key_file, no_media, **options):
        out_path = Path(out)
        if not out_path.parent.is_dir():
            raise CommandError(f"输出目录不存在 / no such folder: {out_path.parent}")
        started = time.monotonic()
        try:
            key = backup.load_key(key_file)
            with backup.drill_log("backup") as record:
                manifest = backup.take_backup(out_path, key=key, cipher=cipher,
                                              media_root=None if no_media else Path(settings.MEDIA_ROOT))
                record.update(file=str(out_path), engine=manifest["engine"], tables=len(manifest["tables"]),
                              rows=manifest["rows"], media=len(manifest["media"]), cipher=cipher,
                              bytes=out_path.stat().st_size, seconds=round(time.monotonic() - started, 3))
        except (backup.BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"备份完成 / backup written: {out_path} ({record['bytes']:,} bytes, {manifest['rows']:,} rows in "
                          f"{len(manifest['tables'])} tables, {len(manifest['media'])} media files, {record['seconds']} s)")
        if options["verbosity"] > 1:
            self.stdout.write(json.dumps(manifest["tables"], indent=1))
