"""Which role may do which action (角色权限) — permissions as data.

The rights live in the `RoleAction` table (seeded from `DEFAULT_ROLE_ACTIONS` by a data
migration, edited in the admin by the security administrator). `can()` is the one entry
point. It is called on every request, so each process keeps a copy of the table and
re-reads only the `ConfigVersion` row, at most once per `ROLE_TABLE_TTL` seconds, to learn
whether another process changed it. A change made in this process drops the copy at once.
"""

import threading
import time

from django.conf import settings

from .models import Role

R = Role
DEFAULT_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    R.RESIDENT: frozenset({"report", "evaluate", "reopen"}),
    R.GRID_WORKER: frozenset({"report", "self_resolve", "verify", "correct_location"}),
    R.GRID_LEADER: frozenset({"report", "self_resolve", "verify", "correct_location", "supervise"}),
    R.COMMUNITY_STAFF: frozenset(
        {
            "report", "accept", "reject", "merge", "dispatch", "start", "return", "request_extension",
            "feedback", "verify", "close", "self_resolve", "escalate", "callback", "correct_location",
        }
    ),
    R.DISPATCHER: frozenset(
        {
            "report", "accept", "reject", "merge", "dispatch", "decide_extension", "close", "supervise",
            "escalate", "hang", "resume", "callback", "reopen", "correct_location",
        }
    ),
    R.DEPARTMENT_HANDLER: frozenset({"start", "return", "request_extension", "feedback"}),
    R.LEADER: frozenset({"supervise"}),
    # 三员分立: accounts and configuration; roles and labels; the audit log — never case data.
    R.AUDITOR: frozenset({"read_audit"}),
    R.SYSTEM_ADMIN: frozenset({"manage_accounts", "manage_config"}),
    R.SECURITY_ADMIN: frozenset({"manage_roles"}),
}

# Administrative actions (not case actions): they open parts of the admin site.
ADMIN_ACTIONS = {"manage_accounts", "manage_config", "manage_roles", "read_audit"}
ROLE_TABLE_KEY = "role_actions"


class _RoleTable:
    """This process's copy of the role → actions table and the version it was read at."""

    def __init__(self):
        self.lock = threading.Lock()
        self.version: int | None = None
        self.table: dict[str, frozenset[str]] | None = None
        self.checked_at = float("-inf")

    def get(self) -> dict[str, frozenset[str]]:
        now = time.monotonic()
        table = self.table
        if table is not None and now - self.checked_at < settings.GRIDGOV["ROLE_TABLE_TTL"]:
            return table
        from .models import ConfigVersion, RoleAction

        version = ConfigVersion.objects.filter(key=ROLE_TABLE_KEY).values_list("version", flat=True).first()
        with self.lock:
            if table is None or version != self.version:
                if version is None:
                    # Never seeded (a database built without migrations): the shipped defaults.
                    table = dict(DEFAULT_ROLE_ACTIONS)
                else:
                    rows: dict[str, set[str]] = {}
                    for role, action in RoleAction.objects.values_list("role", "action"):
                        rows.setdefault(role, set()).add(action)
                    table = {role: frozenset(actions) for role, actions in rows.items()}
                self.table, self.version = table, version
            self.checked_at = now
        return table

    def invalidate(self) -> None:
        with self.lock:
            self.table, self.version, self.checked_at = None, None, float("-inf")


_table = _RoleTable()


def role_table() -> dict[str, frozenset[str]]:
    """The current role → actions table (cached per process, see module doc)."""
    return _table.get()


def invalidate_role_table() -> None:
    """Forget this process's copy (after an edit here, or in tests)."""
    _table.invalidate()


def actions_of(user) -> frozenset[str]:
    """Every action any of the user's roles allows."""
    table = role_table()
    roles = user.roles
    if len(roles) == 1:
        return table.get(next(iter(roles)), frozenset())
    return frozenset().union(*(table.get(r, frozenset()) for r in roles))


def can(user, action: str) -> bool:
    """May this user (through any of their roles) perform this action at all? Jurisdiction is
    checked separately, by the scoping of the object."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    table = role_table()
    return any(action in table.get(role, ()) for role in user.roles)
