"""System checks of the security settings. `gridgov check --deploy` runs Django's own
deployment checks (security.W0xx) and these; `gridgov check --database default` runs the
durability check alone.

gridgov.E301  a database's durability settings can lose acknowledged commits (R30)
gridgov.W302  PostgreSQL data_checksums is off
gridgov.E303  GRIDGOV_UNSAFE_ALLOW_NON_DURABLE is set
gridgov.E310  DEBUG is on
gridgov.W311  SECRET_KEY comes from the generated development key file under var/
gridgov.E312  ALLOWED_HOSTS accepts any host ("*")
gridgov.W313  GRIDGOV_TLS is off: no HTTPS redirect, no HSTS, cookies not marked Secure
gridgov.E314  rate limits are turned off
gridgov.E315  the Content-Security-Policy is missing or allows inline script or style
gridgov.E316  a rate limit is malformed (always checked, not only with --deploy)
"""

import re

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from . import durability, ratelimit


def _durability_messages(aliases) -> list:
    messages = []
    for alias in aliases:
        connection = connections[alias]
        try:
            problems, warnings = durability.inspect(connection)
        except ImproperlyConfigured as exc:  # the connection hook refused it first
            problems, warnings = [str(exc)], []
        except DatabaseError as exc:
            messages.append(Error(f"database {alias!r} cannot be reached: {exc}", id="gridgov.E301"))
            continue
        messages += [Error(p, obj=f"DATABASES[{alias!r}]", id="gridgov.E301",
                           hint="SECURITY.md §5.1; see gridgov/security/durability.py") for p in problems]
        messages += [Warning(w, obj=f"DATABASES[{alias!r}]", id="gridgov.W302") for w in warnings]
    if durability.unsafe_allowed():
        messages.append(Error("GRIDGOV_UNSAFE_ALLOW_NON_DURABLE is set: a non-durable database is accepted",
                              id="gridgov.E303"))
    return messages


@register(Tags.database)
def check_durability(app_configs=None, databases=None, **kwargs):
    return _durability_messages(databases or [])


@register(Tags.security, deploy=True)
def check_durability_deploy(app_configs=None, **kwargs):
    # Django hides database-tagged checks unless --database is given; a deployment review
    # must see durability anyway (with --deploy --database both report it).
    return _durability_messages(list(connections))


@register(Tags.security, deploy=True)
def check_deploy_settings(app_configs=None, **kwargs):
    messages = []
    if settings.DEBUG:
        messages.append(Error("DEBUG is on: errors show stack traces and settings to users",
                              hint="unset GRIDGOV_DEBUG", id="gridgov.E310"))
    if getattr(settings, "SECRET_KEY_SOURCE", "env") == "generated":
        messages.append(Warning("SECRET_KEY comes from the development key file under var/",
                                hint="set GRIDGOV_SECRET_KEY or GRIDGOV_SECRET_KEY_FILE (a file outside the data directory)",
                                id="gridgov.W311"))
    if "*" in settings.ALLOWED_HOSTS:
        messages.append(Error("ALLOWED_HOSTS accepts any host name", hint="list the site's names in GRIDGOV_ALLOWED_HOSTS",
                              id="gridgov.E312"))
    if not getattr(settings, "TLS", False):
        messages.append(Warning("GRIDGOV_TLS is off: no redirect to HTTPS, no HSTS, cookies not marked Secure",
                                hint="serve over HTTPS (a reverse proxy) and set GRIDGOV_TLS=on", id="gridgov.W313"))
    if not settings.GRIDGOV.get("RATE_LIMITS_ENABLED", True):
        messages.append(Error("rate limits are off (GRIDGOV_RATE_LIMITS)", id="gridgov.E314"))
    messages += _csp_messages()
    return messages


def _csp_messages() -> list:
    policy = getattr(settings, "SECURE_CSP", {}) or {}
    if not policy or "django.middleware.csp.ContentSecurityPolicyMiddleware" not in settings.MIDDLEWARE:
        return [Error("no Content-Security-Policy is sent", id="gridgov.E315")]
    loose = [d for d in ("default-src", "script-src", "style-src") if "'unsafe-inline'" in policy.get(d, [])
             or "'unsafe-eval'" in policy.get(d, [])]
    return [Error(f"the Content-Security-Policy allows inline code in {', '.join(loose)}", id="gridgov.E315")] if loose else []


@register("gridgov")
def check_rate_limits(app_configs=None, **kwargs):
    ratelimit.rules.cache_clear()
    try:
        ratelimit.rules()
    except (ImproperlyConfigured, ValueError, TypeError, AttributeError, re.error) as exc:
        return [Error(f'GRIDGOV["RATE_LIMITS"] is malformed: {exc}', id="gridgov.E316")]
    return []
