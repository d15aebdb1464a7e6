"""Account operations: API tokens (issued once in clear, kept as a digest)."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from gridgov.errors import InvalidInput
from gridgov.privacy.services import audit

from .models import ApiToken, User


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_token(*, actor, user: User, name: str, days: int = 90) -> tuple[ApiToken, str]:
    """Issue an API token for a user; the clear value is returned once and never stored."""
    if not 1 <= days <= 366:
        raise InvalidInput("令牌有效期须为1至366天", "days must be 1..366", details={"field": "days"})
    raw = "ggv_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:80] or "token", digest=_digest(raw), prefix=raw[4:12],
                                    expires_at=timezone.now() + timedelta(days=days))
    audit(actor=actor, action="token.issue", obj=token, data={"user": user.username, "days": days})
    return token, raw


def authenticate_token(raw: str) -> User | None:
    """The active user behind a valid, unexpired, unrevoked token, or None."""
    if not raw or not raw.startswith("ggv_"):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=_digest(raw)).first()
    now = timezone.now()
    if token is None or token.revoked_at or token.expires_at <= now or not token.user.is_active:
        return None
    return token.user


@transaction.atomic
def revoke_token(*, actor, token: ApiToken) -> None:
    """Revoke a token at once."""
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit(actor=actor, action="token.revoke", obj=token)
