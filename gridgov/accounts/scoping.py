"""Jurisdiction scoping (辖区范围): the one place that decides which rows a user may see.

Every domain queryset gets a `restrict(user, action="view")` built on `path_scope_q()`;
API handlers, pages, exports, map layers and counts all start from it. A row outside the
scope does not exist for the user (404, never 403).
"""

from django.db.models import Q

from .models import Role

# Roles that see no domain data through territory (separation of duties, 三员分立).
NO_TERRITORY_ROLES = {Role.SYSTEM_ADMIN, Role.AUDITOR, Role.RESIDENT, Role.DEPARTMENT_HANDLER}


def territory_path(user) -> str | None:
    """The path prefix of the territory the user oversees, or None."""
    if user is None or not user.is_authenticated or user.role in NO_TERRITORY_ROLES:
        return None
    return user.scope_path


def path_scope_q(user, path_field: str = "path") -> Q:
    """A filter keeping rows whose `path_field` lies in the user's territory."""
    if user is not None and user.is_authenticated and user.is_superuser:
        return Q()
    path = territory_path(user)
    if path is None:
        return Q(pk__in=[])
    return Q(**{f"{path_field}__startswith": path})
