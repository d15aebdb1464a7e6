"""System checks of accounts (SECURITY.md R5: no default or shared accounts).

gridgov.E201  an active account with a well-known default name (admin, root, test, guest…)
              still has a usable password. A deployment check with a database: it runs with
              ``gridgov check --deploy --database default``.
"""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError

DEFAULT_ACCOUNT_NAMES = frozenset({
    "admin", "administrator", "root", "test", "tester", "guest", "demo", "user", "sa", "superuser", "system",
    "manager", "operator", "default", "anonymous", "support",
})


@register(Tags.security, Tags.database, deploy=True)
def check_default_accounts(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases:
        return []
    from .models import User

    try:
        from django.db.models.functions import Lower

        candidates = (User.objects.filter(is_active=True).annotate(lname=Lower("username"))
                      .filter(lname__in=DEFAULT_ACCOUNT_NAMES).only("username", "password"))
        found = [u.username for u in candidates if u.has_usable_password()]
    except DatabaseError:
        return []  # not migrated yet
    if not found:
        return []
    return [Error(
        f"Default or shared accounts are active with a password: {', '.join(sorted(found))}",
        hint="Rename them to a named person's account, or disable them (MLPS 8.1.4.1 e: no default accounts).",
        id="gridgov.E201",
    )]
