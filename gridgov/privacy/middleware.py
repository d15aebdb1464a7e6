"""Who is asking, from where: the request context every audit record picks up (R14).

`AuditContextMiddleware` puts the source IP, a request id and a short user agent into a
context variable for the length of one request, so `audit()` calls anywhere below a view
record them without being handed the request. The request id is the caller's
``X-Request-ID`` when it is well formed (a load balancer's), else a new one; it is sent
back in the response header so a user's complaint can be matched to the log.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass

from django.conf import settings

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,64}$")


@dataclass(frozen=True)
class RequestContext:
    ip: str = ""
    request_id: str = ""
    user_agent: str = ""


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("gridgov_audit_request", default=None)


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address the n-th trusted proxy saw (GRIDGOV_AUDIT_TRUSTED_PROXIES=n)."""
    proxies = settings.GRIDGOV["AUDIT"]["TRUSTED_PROXIES"]
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies][:45]
    return (request.META.get("REMOTE_ADDR") or "")[:45]


def short_user_agent(value: str) -> str:
    return " ".join(value.split())[:120]


def context_for(request) -> RequestContext:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    return RequestContext(
        ip=client_ip(request),
        request_id=incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex,
        user_agent=short_user_agent(request.META.get("HTTP_USER_AGENT", "")),
    )


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ctx = context_for(request)
        request.request_id = ctx.request_id
        token = current.set(ctx)
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = ctx.request_id
        return response
