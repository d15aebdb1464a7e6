"""Rate limits (限流) shared by every process: a fixed-window counter in the database.

Each limited request costs one statement: an upsert of its buckets (per client address and,
when known, per user or token) that returns the new counts. Counters live in the database,
not in a process, so several gunicorn workers or servers see one truth. A counter that a
crash loses is harmless, so its commit does not wait for the disk (PostgreSQL: synchronous_commit
off for that transaction only; SQLite: synchronous=NORMAL around that statement only).
"""

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connection

logger = logging.getLogger("gridgov.security")

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
CLEANUP_ONE_IN = 500  # expired windows are deleted by one hit in this many

UPSERT = (
    "INSERT INTO security_ratecounter (bucket, count, expires) VALUES {rows} "
    "ON CONFLICT (bucket) DO UPDATE SET count = security_ratecounter.count + 1 "
    "RETURNING bucket, count"
)
# PostgreSQL: the same upsert, and in the same statement (one round trip, its own implicit
# transaction) set_config(..., is_local => true) turns synchronous_commit off for that
# transaction only. The one-row subquery is joined so that it is evaluated.
PG_UPSERT = (
    "INSERT INTO security_ratecounter (bucket, count, expires) "
    "SELECT v.bucket, 1, v.expires FROM (VALUES {rows}) AS v (bucket, expires) "
    "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed "
    "ON CONFLICT (bucket) DO UPDATE SET count = security_ratecounter.count + 1 "
    "RETURNING bucket, count"
)


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


@dataclass(frozen=True)
class Rule:
    scope: str
    methods: frozenset
    patterns: tuple
    per_ip: Limit | None
    per_user: Limit | None

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and any(p.search(path) for p in self.patterns)


def parse_limit(text) -> Limit | None:
    """'30/m', '100/60', '5/h' → Limit; None or '' → no limit."""
    if text in (None, ""):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+|[a-z]+)\s*", str(text).lower())
    if not match:
        raise ImproperlyConfigured(f"rate limit {text!r} is not 'count/period' (e.g. 30/m, 100/60)")
    count, period = int(match[1]), match[2]
    seconds = int(period) if period.isdigit() else PERIODS.get(period)
    if not seconds or count < 1:
        raise ImproperlyConfigured(f"rate limit {text!r}: the count and the period must be positive (s, m, h, d)")
    return Limit(count, seconds)


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    config = settings.GRIDGOV
    if not config.get("RATE_LIMITS_ENABLED", True):
        return ()
    return tuple(
        Rule(
            scope=scope,
            methods=frozenset(m.upper() for m in rule.get("methods", ["POST"])),
            patterns=tuple(re.compile(p) for p in rule.get("paths", [])),
            per_ip=parse_limit(rule.get("per_ip")),
            per_user=parse_limit(rule.get("per_user")),
        )
        for scope, rule in config.get("RATE_LIMITS", {}).items()
    )


def _reset(*, setting, **kwargs):
    if setting == "GRIDGOV":
        rules.cache_clear()


setting_changed.connect(_reset, dispatch_uid="gridgov.security.ratelimit")


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address the n-th trusted proxy saw (X-Forwarded-For from the right)."""
    trusted = int(settings.GRIDGOV.get("TRUSTED_PROXIES", 0) or 0)
    if trusted:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= trusted:
            return forwarded[-trusted][:64]
    return request.META.get("REMOTE_ADDR", "")[:64] or "unknown"


def client_user(request) -> str | None:
    """The signed-in user, or a digest of the bearer token (the API authenticates later)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u{user.pk}"
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return "t" + hashlib.sha256(auth[7:].strip().encode()).hexdigest()[:24]
    return None


def hit(buckets: list[tuple[str, int]]) -> dict[str, int]:
    """Count one request in each (bucket, expires) and return bucket → count in its window."""
    params = [value for bucket in buckets for value in bucket]
    if connection.vendor == "postgresql":
        sql = PG_UPSERT.format(rows=", ".join(["(%s::varchar, %s::bigint)"] * len(buckets)))  # placeholders only
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            counts = dict(cursor.fetchall())
    else:
        sql = UPSERT.format(rows=", ".join(["(%s, 1, %s)"] * len(buckets)))  # placeholders only
        relax = not connection.in_atomic_block
        with connection.cursor() as cursor:
            if relax:
                cursor.execute("PRAGMA synchronous=NORMAL")
            try:
                cursor.execute(sql, params)
                counts = dict(cursor.fetchall())
            finally:
                if relax:
                    cursor.execute("PRAGMA synchronous=FULL")
    if secrets.randbelow(CLEANUP_ONE_IN) == 0:
        from .models import RateCounter

        RateCounter.objects.filter(expires__lt=int(time.time())).delete()
    return counts


@dataclass
class Refusal:
    rule: Rule
    kind: str  # "ip" or "user"
    limit: Limit
    retry_after: int
    first: bool  # the first refused request of this window: alert once, not per request


def check(request, rule: Rule, now: float | None = None) -> Refusal | None:
    """Count the request against the rule's limits; a Refusal when one is exceeded."""
    now = time.time() if now is None else now
    wanted = []
    if rule.per_ip:
        wanted.append(("ip", rule.per_ip, client_ip(request)))
    if rule.per_user and (user := client_user(request)):
        wanted.append(("user", rule.per_user, user))
    if not wanted:
        return None
    buckets = {}
    for kind, limit, who in wanted:
        window = int(now // limit.seconds)
        buckets[f"{rule.scope}:{kind}:{who}:{window}"] = (kind, limit, (window + 1) * limit.seconds)
    counts = hit([(bucket, expires) for bucket, (_k, _l, expires) in buckets.items()])
    for bucket, (kind, limit, expires) in buckets.items():
        if counts.get(bucket, 0) > limit.count:
            return Refusal(rule, kind, limit, max(1, int(expires - now)), counts[bucket] == limit.count + 1)
    return None
