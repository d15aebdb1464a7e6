"""`gridgov disable-inactive-staff [--days N]`: disable staff who have not signed in for N
days (default GRIDGOV["STAFF_INACTIVE_DAYS"]); also a background task (accounts.tasks)."""

from django.core.management.base import BaseCommand

from ... import services


class Command(BaseCommand):
    help = "Disable staff accounts unused for N days (停用长期未登录的工作人员账号)"

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, days=None, **options):
        names = services.disable_inactive_staff(days=days)
        self.stdout.write(f"已停用 {len(names)} 个账号 (disabled): {', '.join(names) or '-'}")
