"""How API callers authenticate: a bearer token (`Authorization: Bearer ggv_…`) for
integrations and apps, or the Django session of a signed-in browser with its CSRF token.

Both give `request.auth`, the acting `User`; its role and jurisdiction then decide
everything else. A missing or bad credential answers 401 (`unauthenticated`).
"""

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from gridgov.errors import Forbidden

from . import services as account_services


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
        return user


API_AUTH = [TokenAuth(), SessionAuth()]
