"""gridgov serve [--host 127.0.0.1] [--port 8000] [--workers N]

Serves gridgov with gunicorn (gridgov.wsgi) and N worker processes. Static files are
served by WhiteNoise from the collected STATIC_ROOT (`make setup` collects them). With
SQLite (WAL) a few workers are fine; for a city use PostgreSQL and more servers.
"""

import os
import shutil
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def gunicorn_argv(host: str, port: int, workers: int, extra: list[str] | None = None) -> list[str]:
    """The gunicorn command line this command runs."""
    return [
        sys.executable, "-m", "gunicorn", "gridgov.wsgi:application",
        "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "--workers", str(workers),
        "--access-logfile", "-",
        "--timeout", "60",
        *(extra or []),
    ]


class Command(BaseCommand):
    help = "用 gunicorn 启动 gridgov / serve gridgov with gunicorn"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--dry-run", action="store_true", help="print the gunicorn command and exit")

    def handle(self, *args, host, port, workers, dry_run, **options):
        if not 1 <= port <= 65535:
            raise CommandError("--port 须在 1–65535 之间 / --port must be 1..65535")
        if not 1 <= workers <= 64:
            raise CommandError("--workers 须在 1–64 之间 / --workers must be 1..64")
        argv = gunicorn_argv(host, port, workers)
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(f"gridgov 运行于 / serving at http://{shown}:{port}/  ({workers} workers, Ctrl-C 停止 / to stop)")
        self.stdout.write(
            "演示账号 / demo logins: street_dispatcher, grid_worker, dept_handler, resident, leader, admin … "
            "密码 / password Demo-2026 (the full table is printed by `gridgov demo`)"
        )
        if not (settings.STATIC_ROOT and os.path.isdir(settings.STATIC_ROOT)):
            self.stderr.write("静态文件尚未收集：请先运行 gridgov collectstatic / static files not collected: run `gridgov collectstatic`")
        if dry_run:
            self.stdout.write(" ".join(argv))
            return
        if shutil.which(sys.executable) is None:
            raise CommandError(f"找不到 Python 解释器 {sys.executable}")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)  # fixed argv, no shell; gunicorn takes over  # noqa: S606  # nosec B606
