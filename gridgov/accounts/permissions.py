"""Which role may do which case action (默认权限). Issue "Accounts, jurisdiction and the
protection of personal data" turns this table into editable data; every check already goes
through `can()` so that change stays in one place."""

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
    R.AUDITOR: frozenset(),
    R.SYSTEM_ADMIN: frozenset(),
}


def can(user, action: str) -> bool:
    """May this user's role perform this case action at all (jurisdiction checked separately)?"""
    if user is None:
        return False
    if user.is_superuser:
        return True
    return action in DEFAULT_ROLE_ACTIONS.get(user.role, frozenset())
