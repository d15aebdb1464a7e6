"""gridgov purge-idempotency-keys: delete expired idempotency keys (run daily)."""

from django.core.management.base import BaseCommand

from gridgov.ops import idempotency


class Command(BaseCommand):
    help = "删除过期的幂等键 / delete expired idempotency keys"

    def handle(self, *args, **options):
        self.stdout.write(f"已删除 / deleted {idempotency.purge()} expired keys")
