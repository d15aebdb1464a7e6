"""Security middleware: headers Django lacks, no-store on personal data, a request size cap,
and rate limits."""

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

from . import ratelimit

logger = logging.getLogger("gridgov.security")

JSON_PREFIXES = ("/api/", "/open311/")


def wants_json(request) -> bool:
    return request.path_info.startswith(JSON_PREFIXES)


def error_response(request, status: int, code: str, message_zh: str, message_en: str, details: dict | None = None,
                   template: str | None = None):
    """The API's error shape for API paths; a Chinese page for everything else."""
    if wants_json(request):
        body = {"error": {"code": code, "message_zh": message_zh, "message_en": message_en, "details": details or {}}}
        return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    html = render_to_string(template or "security/error.html", {"status": status, "message": message_zh}, request=request)
    return HttpResponse(html, status=status)


def _carries_credentials(request) -> bool:
    if request.META.get("HTTP_AUTHORIZATION"):
        return True
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


class SecurityHeadersMiddleware:
    """Permissions-Policy on every response; `Cache-Control: no-store, private` on every API
    response and every response to a signed-in user (personal data must not linger in
    browser or proxy caches, R22); 413 for a declared body above GRIDGOV["MAX_REQUEST_BYTES"]
    before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.GRIDGOV.get("MAX_REQUEST_BYTES")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit and length > limit:
            response = error_response(request, 413, "payload_too_large", "提交的内容过大", "Request too large",
                                      {"max_bytes": limit})
        else:
            response = self.get_response(request)
        if policy := getattr(settings, "PERMISSIONS_POLICY", ""):
            response.headers.setdefault("Permissions-Policy", policy)
        static = settings.STATIC_URL and request.path_info.startswith(settings.STATIC_URL)
        if not static and (request.path_info.startswith("/api/") or _carries_credentials(request)):
            patch_cache_control(response, no_store=True, private=True)
            response.headers.pop("Expires", None)
        return response


class RateLimitMiddleware:
    """429 past a configured limit (GRIDGOV["RATE_LIMITS"]); the first refusal of a window is
    audited and logged as an alert."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rules = ratelimit.rules()
        if rules:
            method, path = request.method, request.path_info
            for rule in rules:
                if rule.matches(method, path):
                    refusal = ratelimit.check(request, rule)
                    if refusal is not None:
                        return self.refuse(request, refusal)
        return self.get_response(request)

    def refuse(self, request, refusal: ratelimit.Refusal):
        if refusal.first:
            self.alert(request, refusal)
        limit = refusal.limit
        response = error_response(
            request, 429, "rate_limited",
            f"请求过于频繁，请在{refusal.retry_after}秒后再试", f"Too many requests; retry in {refusal.retry_after} s",
            {"scope": refusal.rule.scope, "per": refusal.kind, "limit": limit.count, "period_seconds": limit.seconds,
             "retry_after": refusal.retry_after},
        )
        response["Retry-After"] = str(refusal.retry_after)
        return response

    def alert(self, request, refusal: ratelimit.Refusal) -> None:
        from gridgov.privacy.services import audit

        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        data = {"scope": refusal.rule.scope, "per": refusal.kind, "limit": str(refusal.limit),
                "ip": ratelimit.client_ip(request), "path": request.path_info[:200]}
        logger.warning("rate limit exceeded: scope=%s per=%s limit=%s ip=%s", data["scope"], data["per"], data["limit"],
                       data["ip"])
        try:
            with transaction.atomic():
                audit(actor=actor, action="security.rate_limited", object_type="ratelimit", object_id=refusal.rule.scope,
                      data=data)
        except Exception:  # the refusal stands even if the alert cannot be written
            logger.exception("could not record the rate-limit alert")
