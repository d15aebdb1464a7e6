"""Accounts API: how callers authenticate, and who they are (GET /api/me).

A caller authenticates with a bearer token (`Authorization: Bearer ggv_…`) for
integrations and apps, or with the Django session of a signed-in browser and its CSRF
token. Both give `request.auth`, the acting `User`; its role and jurisdiction then decide
everything else. A missing or bad credential answers 401 (`unauthenticated`).
"""

from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from gridgov.errors import Forbidden

from . import services as account_services
from .middleware import BLOCKS, session_block, touch_or_expire
from .models import LoginEvent, Role
from .permissions import can, role_table


class TokenAuth(HttpBearer):
    """`Authorization: Bearer ggv_…`, checked against the stored digest (expiry, revocation)."""

    def authenticate(self, request: HttpRequest, token: str):
        return account_services.authenticate_token(token.strip())


class SessionAuth(APIKeyCookie):
    """The Django session cookie; unsafe methods must carry the CSRF token (`X-CSRFToken`).

    Unlike ninja's own SessionAuth, the CSRF check runs only when the session actually
    signs someone in, so an anonymous request answers 401, not a CSRF 403.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest):
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise Forbidden("CSRF校验失败，请刷新页面后重试", "CSRF check failed", code="csrf_failed")
        # The same gate as the pages: an idle session, or one still owing its second factor
        # or a new password, does not reach the API. The middleware lets calls with a bearer
        # header through untouched, so a bad token falling back to the session lands here.
        if touch_or_expire(request, user):
            status, zh, en = BLOCKS["session_expired"]
            raise Forbidden(zh, en, code="session_expired", status=status)
        reason = session_block(user)
        if reason is not None:
            status, zh, en = BLOCKS[reason]
            raise Forbidden(zh, en, code=reason, status=status)
        return user


API_AUTH = [TokenAuth(), SessionAuth()]


# --- who am I ---------------------------------------------------------------------------

router = Router(tags=["accounts"])


class RefOut(Schema):
    code: str
    name: str


class MeOut(Schema):
    username: str
    display_name: str
    role: Literal[tuple(Role.values)]  # type: ignore[valid-type]
    role_label: str
    is_superuser: bool
    region: RefOut | None
    grid: RefOut | None
    department: RefOut | None
    scope_path: str | None
    roles: list[str]
    actions: list[str]


def _ref(obj) -> dict | None:
    return {"code": obj.code, "name": obj.name} if obj is not None else None


@router.get("/me", response=MeOut, summary="当前用户 · Who am I")
def me(request):
    """The caller, their node of the territory and the case actions their role allows."""
    user = request.auth
    return {
        "username": user.username, "display_name": user.display_name, "role": user.role,
        "role_label": str(user.get_role_display()), "is_superuser": user.is_superuser,
        "region": _ref(user.region), "grid": _ref(user.grid), "department": _ref(user.department),
        "scope_path": user.scope_path, "roles": sorted(user.roles),
        "actions": sorted(a for a in set().union(*role_table().values()) if can(user, a)),
    }


class LoginEventOut(Schema):
    at: str
    kind: Literal[tuple(LoginEvent.Kind.values)]  # type: ignore[valid-type]
    kind_label: str
    ip: str | None
    user_agent: str


@router.get("/me/logins", response=list[LoginEventOut], summary="我的登录记录 · My sign-in history")
def my_logins(request, limit: int = Query(50, ge=1, le=200)):
    """The caller's own latest sign-in events (success, failure, lockout, logout), newest first."""
    events = LoginEvent.objects.filter(user=request.auth).order_by("-at", "-id")[:limit]
    return [{"at": e.at.isoformat(), "kind": e.kind, "kind_label": str(e.get_kind_display()), "ip": e.ip,
             "user_agent": e.user_agent} for e in events]
