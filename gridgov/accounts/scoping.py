"""Jurisdiction scoping (辖区范围): the one place that decides which rows a user may see.

Every domain queryset gets a `restrict(user, action="view")` built on `path_scope_q()`;
API handlers, pages, exports, map layers and counts all start from it. A row outside the
scope does not exist for the user (404, never 403).

A user holding several posts (岗位) sees the union of their posts' territories; the
single-post case reads one path, exactly as before.
"""

from django.db.models import Q

from .models import Role

# Roles that see no domain data through territory (separation of duties, 三员分立).
NO_TERRITORY_ROLES = {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.RESIDENT, Role.DEPARTMENT_HANDLER}


def territory_paths(user) -> list[str]:
    """Path prefixes of every territory the user oversees through any post (maybe empty)."""
    if user is None or not user.is_authenticated or user.roles <= NO_TERRITORY_ROLES:
        return []  # no post with a territory: not even the path query
    paths = [path for role, path in user.scope_paths if role not in NO_TERRITORY_ROLES]
    # A path inside another one adds nothing to the union.
    return [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]


def territory_path(user) -> str | None:
    """The path prefix of the user's territory, or None; with several posts, the first of them
    (callers that must honour every post use `territory_paths`)."""
    paths = territory_paths(user)
    return paths[0] if paths else None


def in_territory(user, path: str) -> bool:
    """Is this path inside any territory of the user's posts (whatever the post's role)?"""
    return any(path.startswith(scope) for _, scope in user.scope_paths)


def path_scope_q(user, path_field: str = "path") -> Q:
    """A filter keeping rows whose `path_field` lies in the user's territory (any post)."""
    if user is not None and user.is_authenticated and user.is_superuser:
        return Q()
    paths = territory_paths(user)
    if not paths:
        return Q(pk__in=[])
    q = Q(**{f"{path_field}__startswith": paths[0]})
    for path in paths[1:]:
        q |= Q(**{f"{path_field}__startswith": path})
    return q
