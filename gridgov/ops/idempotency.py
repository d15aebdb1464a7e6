"""Idempotent writes: the `Idempotency-Key` request header.

A client that did not get an answer (timeout, dropped connection, crashed server) cannot
know whether its write happened. It sends the write again with the same key and gets the
original answer, never a second record:

- same user, same key, same request → the stored answer (status and body), nothing written;
- same user, same key, a different request → 409 `idempotency_key_reused`;
- two requests racing with one key → one write: the key row is inserted in the write's own
  transaction under a unique constraint, so the loser's insert fails (PostgreSQL makes it
  wait for the winner's commit first), its transaction rolls back, and it answers the
  winner's stored answer.

Cost: one INSERT in the write's transaction, only when the header is present; lookups happen
only on the replay path. Keys expire after `GRIDGOV["IDEMPOTENCY_TTL_HOURS"]` (default 24,
env `GRIDGOV_IDEMPOTENCY_TTL_HOURS`); an expired key may be used again and
`gridgov purge-idempotency-keys` deletes expired rows.

Usage in an API handler::

    def report_case(request):
        data, files = parse_body(...)
        return idempotency.once(request, "cases.report", data.model_dump(), files["photos"],
                                lambda record: _report(request, data, files, record))

where `_report` calls `record(status, body)` inside the write's transaction (when `record`
is not None) and returns `(status, body)`.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridgov.errors import Conflict, InvalidInput

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def ttl() -> timedelta:
    hours = settings.GRIDGOV.get("IDEMPOTENCY_TTL_HOURS") or float(os.environ.get("GRIDGOV_IDEMPOTENCY_TTL_HOURS", "24"))
    return timedelta(hours=float(hours))


def key_from(request) -> str | None:
    """The request's idempotency key, None without the header; a malformed one is a 422."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key 须为1–{MAX_KEY_LENGTH}个可打印ASCII字符",
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable ASCII characters",
            details={"header": HEADER},
        )
    return key


def fingerprint(payload: dict, files=()) -> str:
    """SHA-256 of the request's canonical JSON and of every uploaded file's bytes."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder).encode())
    for upload in files or ():
        upload.seek(0)
        file_digest = hashlib.sha256()
        while chunk := upload.read(1 << 16):
            file_digest.update(chunk)
        upload.seek(0)
        digest.update(file_digest.digest())
    return digest.hexdigest()


def as_json(body) -> str:
    """The body as JSON text, rendered the way the API renders it (datetimes to
    milliseconds, UTC as Z) and in its key order, so a replay is the original answer."""
    from ninja.responses import NinjaJSONEncoder

    return json.dumps(body, cls=NinjaJSONEncoder, ensure_ascii=False)


class _Claim:
    def __init__(self, user, scope: str, key: str, fingerprint: str):
        self.user, self.scope, self.key, self.fingerprint = user, scope, key, fingerprint

    def record(self, status: int, body) -> None:
        """Store the answer; call inside the write's transaction (the one extra statement)."""
        now = timezone.now()
        IdempotencyKey.objects.create(
            user=self.user, scope=self.scope, key=self.key, fingerprint=self.fingerprint, status_code=status,
            response=as_json(body), created_at=now, expires_at=now + ttl(),
        )

    def previous(self):
        """The stored (status, body) for this key, None if there is none or it expired (the
        expired row is deleted so the key can be used again); 409 for another request."""
        row = IdempotencyKey.objects.filter(user=self.user, scope=self.scope, key=self.key).first()
        if row is None:
            return None
        if row.expires_at <= timezone.now():
            IdempotencyKey.objects.filter(pk=row.pk, expires_at__lte=timezone.now()).delete()
            return None
        if row.fingerprint != self.fingerprint:
            raise Conflict(
                "该幂等键已用于另一个不同的请求",
                "This Idempotency-Key was already used for a different request",
                code="idempotency_key_reused",
                details={"header": HEADER},
            )
        return row.status_code, json.loads(row.response)


def once(request, scope: str, payload: dict, files, write):
    """Run `write(record)` at most once per (user, scope, key); see the module docstring.

    Without the header, `write(None)` runs as usual. Returns what `write` returns, or the
    stored (status, body) on a replay."""
    key = key_from(request)
    if key is None:
        return write(None)
    claim = _Claim(request.auth, scope, key, fingerprint(payload, files))
    attempts = 3
    for attempt in range(attempts):
        try:
            return write(claim.record)
        except IntegrityError:
            # Our key (another request with it committed first) or an unrelated constraint;
            # the key row tells which. The write's transaction has rolled back (a savepoint
            # when the caller holds a transaction, as tests do).
            with transaction.atomic():
                previous = claim.previous()
            if previous is not None:
                return previous
            # No live row: an expired one was just deleted, or the failure was another
            # constraint; one more attempt settles it, and a repeated failure is re-raised.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def purge(now=None) -> int:
    """Delete expired keys; returns how many."""
    return IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()[0]
