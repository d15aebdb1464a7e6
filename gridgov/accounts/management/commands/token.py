"""`gridgov token issue|list|revoke`: API tokens for integrations and apps.

    gridgov token issue USERNAME --name NAME [--days N] [--role ROLE ...] [--region CODE | --grid CODE]
    gridgov token list [USERNAME]
    gridgov token revoke PREFIX

The clear token is printed once, by `issue`; only its SHA-256 digest is stored.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gridgov.commandutils import domain_errors

from ... import services
from ...models import ApiToken, User


class Command(BaseCommand):
    help = "Issue, list or revoke API tokens (接口令牌)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        issue = sub.add_parser("issue", help="issue a token; prints it once")
        issue.add_argument("username")
        issue.add_argument("--name", required=True)
        issue.add_argument("--days", type=int, default=90)
        issue.add_argument("--role", action="append", default=[], help="limit the token to this role (repeatable)")
        where = issue.add_mutually_exclusive_group()
        where.add_argument("--region", help="limit the token to this region code inside the user's jurisdiction")
        where.add_argument("--grid", help="limit the token to this grid code inside the user's jurisdiction")
        listing = sub.add_parser("list", help="list tokens")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix")

    @domain_errors
    def handle(self, *args, verb, **options):
        getattr(self, f"_{verb}")(**options)

    def _issue(self, *, username, name, days, role, region, grid, **_):
        from gridgov.places.models import Grid, Region

        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"用户 {username} 不存在 (no such user)")
        scope_path = ""
        if region:
            scope_path = Region.objects.filter(code=region).values_list("path", flat=True).first() or ""
            if not scope_path:
                raise CommandError(f"区划 {region} 不存在 (no such region)")
        if grid:
            scope_path = Grid.objects.filter(code=grid).values_list("path", flat=True).first() or ""
            if not scope_path:
                raise CommandError(f"网格 {grid} 不存在 (no such grid)")
        token, raw = services.issue_token(actor=None, user=user, name=name, days=days, roles=role, scope_path=scope_path)
        self.stdout.write(raw)
        self.stderr.write(f"令牌 {token.prefix}… 有效期至 {timezone.localtime(token.expires_at):%Y-%m-%d %H:%M}；"
                          "请立即保存，它不会再次显示 (shown once)")

    def _list(self, *, username, **_):
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "created_at")
        if username:
            tokens = tokens.filter(user__username=username)
        now = timezone.now()
        for t in tokens:
            state = "revoked" if t.revoked_at else ("expired" if t.expires_at <= now else "active")
            self.stdout.write(f"{t.prefix}\t{t.user.username}\t{t.name}\t{state}\t"
                              f"{timezone.localtime(t.expires_at):%Y-%m-%d}\t{','.join(t.roles) or '*'}\t{t.scope_path or '*'}")

    def _revoke(self, *, prefix, **_):
        token = services.get_token(prefix)
        services.revoke_token(actor=None, token=token)
        self.stdout.write(f"令牌 {token.prefix}… 已吊销 (revoked)")
