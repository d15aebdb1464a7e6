"""The gate every signed-in request passes (SECURITY.md R1, R3, R4): idle timeout, then the
second factor for roles that need it, then a forced or expired password change.

Pages redirect to the page that clears the gate; a session-authenticated API call gets a
structured 401/403 instead. Bearer-token API calls are not session-bound: the API's
SessionAuth applies the same `session_block()` when it falls back to the session.
"""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

LAST_SEEN_KEY = "gg_last_seen"
# Re-write the session's last-seen time at most this often, not on every request.
LAST_SEEN_RESOLUTION_S = 60

BLOCKS = {
    "otp_required": (401, "需要完成动态口令（双因素）验证", "Two-factor verification required"),
    "password_change_required": (403, "请先修改密码", "You must change your password first"),
    "session_expired": (401, "会话已超时，请重新登录", "The session timed out; sign in again"),
}


def session_block(user) -> str | None:
    """Why this signed-in session may not use the application yet, or None."""
    if user.needs_mfa and not user.is_verified():
        return "otp_required"
    if user.must_change_password or user.password_expired():
        return "password_change_required"
    return None


def touch_or_expire(request, user) -> bool:
    """End the session if it was idle too long (True); else note this activity (at most once
    a minute, so a busy session is not rewritten on every request)."""
    session = request.session
    now = int(time.time())
    idle = settings.GRIDGOV["SESSION_IDLE_MINUTES"] * 60
    last = session.get(LAST_SEEN_KEY)
    if last is not None and idle and now - last > idle:
        from . import services

        services.record_login_event(request=request, kind="timeout", user=user)
        logout(request)
        return True
    if last is None or now - last >= LAST_SEEN_RESOLUTION_S:
        session[LAST_SEEN_KEY] = now
    return False


def block_response(reason: str) -> JsonResponse:
    status, zh, en = BLOCKS[reason]
    return JsonResponse({"error": {"code": reason, "message_zh": zh, "message_en": en, "details": {}}}, status=status,
                        json_dumps_params={"ensure_ascii": False})


def _prefixes() -> tuple[str, ...]:
    return (settings.STATIC_URL, "/i18n/", "/favicon.ico")


class AccountSecurityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self._gate(request)
        return response if response is not None else self.get_response(request)

    def _gate(self, request):
        path = request.path_info
        if path.startswith(_prefixes()):
            return None
        is_api = path.startswith("/api/")
        if is_api and "HTTP_AUTHORIZATION" in request.META:
            # A token call (intake, integrations): the session is not even loaded. SessionAuth
            # applies session_block() itself if the token fails and it falls back to the session.
            return None
        user = request.user
        if not user.is_authenticated:
            return None
        if touch_or_expire(request, user):
            if is_api:
                return block_response("session_expired")
            return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path(), 'timeout': 1})}")
        reason = session_block(user)
        if reason is None:
            return None
        if is_api:
            return block_response(reason)
        allowed = {reverse("accounts:logout")}
        if reason == "otp_required":
            allowed |= {reverse("accounts:otp_verify"), reverse("accounts:otp_enrol")}
            target = "accounts:otp_verify"
        else:
            allowed |= {reverse("accounts:password_change")}
            target = "accounts:password_change"
        if path in allowed:
            return None
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
