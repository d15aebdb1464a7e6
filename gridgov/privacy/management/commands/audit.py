"""gridgov audit verify | checkpoint | grant --role ROLE | purge [--days N] [--actor USERNAME]

verify      walk every chain and checkpoint; print the first broken link of each chain
            (record id, chain, seq) and exit 1 on any problem, 0 when intact.
checkpoint  sign the head of every chain that moved (HMAC key from GRIDGOV_AUDIT_KEY or
            GRIDGOV_AUDIT_KEY_FILE, never the database). `gridgov worker` schedules it.
grant       PostgreSQL: leave the application's database role INSERT and SELECT only on
            the audit tables (REVOKE UPDATE, DELETE, TRUNCATE). Run as the tables' owner.
purge       delete records older than the retention period (≥ 180 days) through the one
            controlled path; the purge is itself audited. Run as the tables' owner.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from gridgov.errors import DomainError
from gridgov.privacy import chain
from gridgov.privacy import services as privacy_services
from gridgov.privacy.triggers import TABLES


class Command(BaseCommand):
    help = "Verify, checkpoint, lock down or purge the audit log."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        verify = sub.add_parser("verify", help="verify every chain and checkpoint")
        verify.add_argument("--json", action="store_true", help="print the report as JSON")
        sub.add_parser("checkpoint", help="sign the current head of every chain")
        grant = sub.add_parser("grant", help="PostgreSQL: INSERT and SELECT only for the application role")
        grant.add_argument("--role", required=True, help="the application's PostgreSQL role")
        purge = sub.add_parser("purge", help="delete records older than the retention period")
        purge.add_argument("--days", type=int, default=None, help="retention in days (default: the setting, ≥ 180)")
        purge.add_argument("--actor", default="", help="username recorded as the purging auditor")

    def handle(self, *args, verb, **options):
        return getattr(self, f"_{verb}")(**options)

    def _verify(self, json=False, **options):
        report = chain.verify()
        if json:
            self.stdout.write(_dumps({"ok": report.ok, "records": report.records, "chains": report.chains,
                                      "checkpoints": report.checkpoints, "problems": [p.as_dict() for p in report.problems]}))
        else:
            self.stdout.write(f"{report.records} records on {report.chains} chains, {report.checkpoints} checkpoints")
            for c, problem in sorted(report.first_by_chain().items()):
                self.stdout.write(f"BROKEN chain {c}: first broken link: record_id={problem.record_id} seq={problem.seq} "
                                  f"[{problem.kind}] {problem.message}")
            if len(report.problems) > len(report.first_by_chain()):
                self.stdout.write(f"({len(report.problems)} problems in all)")
        if not report.ok:
            raise CommandError(f"audit log verification failed: {len(report.problems)} problem(s)", returncode=1)
        if not json:
            self.stdout.write(self.style.SUCCESS("audit log intact"))

    def _checkpoint(self, **options):
        written = chain.write_checkpoints()
        self.stdout.write(f"{len(written)} checkpoint(s) written")

    def _grant(self, role, **options):
        if connection.vendor != "postgresql":
            raise CommandError("grant applies to PostgreSQL; SQLite has no roles (the triggers still refuse edits)")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                raise CommandError(f"no PostgreSQL role {role!r}")
            quoted = connection.ops.quote_name(role)
            for table in TABLES:
                cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {quoted}")
                cursor.execute(f"GRANT SELECT, INSERT ON {table} TO {quoted}")
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                sequence = cursor.fetchone()[0]
                if sequence:
                    cursor.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {quoted}")
        self.stdout.write(self.style.SUCCESS(f"{role}: INSERT and SELECT only on {', '.join(TABLES)}"))

    def _purge(self, days=None, actor="", **options):
        from django.contrib.auth import get_user_model

        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor).first()
            if user is None:
                raise CommandError(f"no user {actor!r}")
        try:
            summary = privacy_services.purge(actor=user, days=days)
        except DomainError as exc:
            raise CommandError(exc.message_en) from exc
        self.stdout.write(f"purged {summary['deleted']} record(s) older than {summary['cutoff']}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
