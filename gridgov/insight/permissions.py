"""Who may do what with hot spots and warnings (预警权限).

Kept here, in one table, like `accounts.permissions` for cases; when the role → action
table becomes editable data (the accounts issue) these actions move there and `may()`
stays the only caller. Territory is checked separately (`EarlyWarning.objects.restrict`).
"""

from gridgov.accounts.models import Role

R = Role
INSIGHT_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    # Command centres and community staff work the warnings; leaders watch and may act.
    R.DISPATCHER: frozenset({"view", "acknowledge", "close", "to_case", "hotspots"}),
    R.COMMUNITY_STAFF: frozenset({"view", "acknowledge", "close", "to_case", "hotspots"}),
    R.LEADER: frozenset({"view", "acknowledge", "close", "hotspots"}),
    R.GRID_LEADER: frozenset({"hotspots"}),
}


def may(user, action: str) -> bool:
    """May this user's role do this insight action at all (jurisdiction checked separately)?"""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return action in INSIGHT_ROLE_ACTIONS.get(user.role, frozenset())
