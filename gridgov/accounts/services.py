"""Account operations: sign-in records, passwords, posts (岗位), the role table, API tokens.

Every change writes an audit record in the same transaction (`gridgov.privacy.services.audit`).
"""

import hashlib
import ipaddress
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gridgov.errors import Forbidden, InvalidInput, NotFound
from gridgov.privacy.services import audit

from . import permissions
from .models import ApiToken, ConfigVersion, LoginEvent, Post, Role, RoleAction, User

# --- sign-in records ---------------------------------------------------------------------


def client_ip(request) -> str | None:
    """The client's address as django-axes computed it (proxy-aware), else REMOTE_ADDR."""
    if request is None:
        return None
    for value in (getattr(request, "axes_ip_address", None), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address(value)) if value else None
        except ValueError:
            continue  # "unknown" (no address, e.g. force_login in tests): not an address
    return None


def axes_client_ip(request) -> str | None:
    """django-axes' view of the client: the rate limiter's address (GRIDGOV_TRUSTED_PROXIES),
    or None when there is none (a request built in code has no REMOTE_ADDR)."""
    from gridgov.security.ratelimit import client_ip as limiter_ip

    try:
        return str(ipaddress.ip_address(limiter_ip(request)))
    except ValueError:
        return None


@transaction.atomic
def record_login_event(*, request, kind: str, user: User | None = None, username: str = "") -> LoginEvent:
    """Write a login-history row and its audit record (success, failure, lockout, logout…)."""
    username = (username or (user.username if user else ""))[:150]
    if user is None and username:
        user = User.objects.filter(username=username).first()
    ip = client_ip(request)
    agent = (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:200]
    event = LoginEvent.objects.create(user=user, username=username, kind=kind, ip=ip, user_agent=agent)
    audit(actor=user if kind in {LoginEvent.Kind.SUCCESS, LoginEvent.Kind.LOGOUT, LoginEvent.Kind.TIMEOUT} else None,
          action=f"login.{kind}", obj=event, data={"username": username, "ip": ip, "user_id": user.pk if user else None})
    return event


# --- passwords ---------------------------------------------------------------------------


@transaction.atomic
def change_password(*, user: User, old_password: str | None, new_password: str) -> None:
    """The user sets their own password: the old one must match, the new one pass the policy."""
    if old_password is not None and not user.check_password(old_password):
        raise InvalidInput("原密码不正确", "The current password is wrong", details={"field": "old_password"})
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise InvalidInput("；".join(exc.messages), "The new password does not meet the policy",
                           details={"field": "new_password", "messages": exc.messages}) from exc
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    audit(actor=user, action="account.password_change", obj=user)


@transaction.atomic
def reset_password(*, actor, user: User, new_password: str) -> None:
    """An administrator sets a temporary password; the user must change it at next sign-in."""
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise InvalidInput("；".join(exc.messages), "The password does not meet the policy",
                           details={"field": "password", "messages": exc.messages}) from exc
    user.set_password(new_password)
    user.must_change_password = True
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    audit(actor=actor, action="account.password_reset", obj=user)


# --- posts (岗位) -------------------------------------------------------------------------


def _sync_post_flag(user_id: int) -> None:
    has = Post.objects.filter(user_id=user_id, active=True).exists()
    User.objects.filter(pk=user_id).exclude(has_extra_posts=has).update(has_extra_posts=has)


@transaction.atomic
def add_post(*, actor, user: User, role: str, region=None, grid=None, department=None) -> Post:
    """Give a user an extra post; their scope and rights become the union of their posts."""
    if role not in Role.values:
        raise InvalidInput("未知角色", "Unknown role", details={"field": "role"})
    if not (region or grid or department):
        raise InvalidInput("岗位须指定区划、网格或部门", "A post needs a region, grid or department", details={"field": "region"})
    if grid is not None and region is None:
        region = grid.region
    post, _ = Post.objects.update_or_create(user=user, role=role, region=region, grid=grid, department=department,
                                            defaults={"active": True})
    _sync_post_flag(user.pk)
    user.refresh_from_db(fields=["has_extra_posts"])
    for attr in ("_posts_all", "_scope_paths", "_roles"):
        user.__dict__.pop(attr, None)
    audit(actor=actor, action="account.post_add", obj=post, data={"user": user.username, "role": role})
    return post


@transaction.atomic
def remove_post(*, actor, post: Post) -> None:
    """End an extra post."""
    user_id = post.user_id
    audit(actor=actor, action="account.post_remove", obj=post, data={"user_id": user_id, "role": post.role})
    post.delete()
    _sync_post_flag(user_id)


# --- the role → action table -------------------------------------------------------------


def bump_role_table() -> None:
    """Tell every process the role table changed (they re-read it within their TTL).

    The new version is random, not +1: a bump rolled back after some process cached what it
    saw inside that transaction could otherwise be reused by the next committed edit, and that
    process would keep content nobody committed."""
    version = secrets.randbits(62)
    updated = ConfigVersion.objects.filter(key=permissions.ROLE_TABLE_KEY).update(version=version)
    if not updated:
        ConfigVersion.objects.create(key=permissions.ROLE_TABLE_KEY, version=version)
    transaction.on_commit(permissions.invalidate_role_table)
    permissions.invalidate_role_table()


def _may_edit_roles(actor) -> bool:
    return actor is None or actor.is_superuser or Role.SECURITY_ADMIN in actor.roles


@transaction.atomic
def grant(*, actor, role: str, action: str) -> RoleAction:
    """Allow a role an action (security administrator only)."""
    if not _may_edit_roles(actor):
        raise Forbidden("只有安全管理员可以修改角色权限", "Only the security administrator edits role rights", code="role_forbidden")
    if role not in Role.values or not action or len(action) > 40:
        raise InvalidInput("角色或操作无效", "Invalid role or action", details={"field": "role"})
    row, created = RoleAction.objects.get_or_create(role=role, action=action)
    if created:
        bump_role_table()
        audit(actor=actor, action="role.grant", obj=row, data={"role": role, "action": action})
    return row


@transaction.atomic
def revoke(*, actor, role: str, action: str) -> None:
    """Withdraw an action from a role (security administrator only)."""
    if not _may_edit_roles(actor):
        raise Forbidden("只有安全管理员可以修改角色权限", "Only the security administrator edits role rights", code="role_forbidden")
    deleted, _ = RoleAction.objects.filter(role=role, action=action).delete()
    if deleted:
        bump_role_table()
        audit(actor=actor, action="role.revoke", object_type="accounts.roleaction", object_id=f"{role}:{action}",
              data={"role": role, "action": action})


# --- API tokens --------------------------------------------------------------------------


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _post_paths(user: User, roles: set[str]) -> list[str]:
    return [path for role, path in user.scope_paths if role in roles]


@transaction.atomic
def issue_token(*, actor, user: User, name: str, days: int = 90, roles: list[str] | None = None,
                scope_path: str = "") -> tuple[ApiToken, str]:
    """Issue an API token for a user, limited to some of their roles and a node inside their
    jurisdiction; the clear value is returned once and never stored."""
    max_days = settings.GRIDGOV["TOKEN_MAX_DAYS"]
    if not 1 <= days <= max_days:
        raise InvalidInput(f"令牌有效期须为1至{max_days}天", f"days must be 1..{max_days}", details={"field": "days"})
    if not user.is_active:
        raise InvalidInput("该账号已停用", "The account is disabled", details={"field": "user"})
    held = set(user.roles)
    roles = sorted(set(roles or []))
    if user.is_superuser and (roles or scope_path):
        raise InvalidInput("超级用户的令牌不能限定角色或辖区", "A superuser's token cannot be narrowed",
                           details={"field": "roles"})
    if set(roles) - held:
        raise InvalidInput("令牌的角色须为该用户拥有的角色", "A token's roles must be roles the user holds",
                           details={"field": "roles", "not_held": sorted(set(roles) - held)})
    if scope_path and not user.is_superuser:
        paths = _post_paths(user, set(roles) or held)
        if not any(scope_path.startswith(p) for p in paths):
            raise InvalidInput("令牌的辖区须在该用户的辖区之内", "A token's jurisdiction must lie inside the user's",
                               details={"field": "scope_path"})
    raw = "ggv_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:80] or "token", digest=_digest(raw), prefix=raw[4:12],
                                    expires_at=timezone.now() + timedelta(days=days), roles=roles, scope_path=scope_path)
    audit(actor=actor, action="token.issue", obj=token,
          data={"user": user.username, "days": days, "roles": roles, "scope_path": scope_path})
    return token, raw


def _narrow(user: User, token: ApiToken) -> User:
    """Make this user instance act only with the token's roles and jurisdiction."""
    if not token.roles and not token.scope_path:
        return user
    roles = set(token.roles) or set(user.roles)
    posts = [p for p in user.posts_all if p.role in roles]
    paths = []
    for role, path in user.scope_paths:
        if role not in roles:
            continue
        if not token.scope_path or token.scope_path.startswith(path):
            paths.append((role, token.scope_path or path))
        elif path.startswith(token.scope_path):
            paths.append((role, path))
    user._posts_all = posts
    user._roles = frozenset(p.role for p in posts)
    user._scope_paths = paths
    user._scope_path = paths[0][1] if paths else None
    return user


def authenticate_token(raw: str) -> User | None:
    """The active user behind a valid, unexpired, unrevoked token (narrowed to its scope), or None."""
    if not raw or not raw.startswith("ggv_"):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=_digest(raw)).first()
    now = timezone.now()
    if token is None or token.revoked_at or token.expires_at <= now or not token.user.is_active:
        return None
    user = token.user
    user.api_token = token
    return _narrow(user, token)


@transaction.atomic
def revoke_token(*, actor, token: ApiToken) -> None:
    """Revoke a token at once."""
    if token.revoked_at:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit(actor=actor, action="token.revoke", obj=token)


def get_token(prefix: str) -> ApiToken:
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None:
        raise NotFound("令牌不存在", "Token not found")
    return token


# --- dormant staff accounts (R5) ---------------------------------------------------------


@transaction.atomic
def disable_inactive_staff(*, actor=None, days: int | None = None, now=None) -> list[str]:
    """Disable staff accounts with no sign-in for `days` (default: STAFF_INACTIVE_DAYS)."""
    days = days if days is not None else settings.GRIDGOV["STAFF_INACTIVE_DAYS"]
    cutoff = (now or timezone.now()) - timedelta(days=days)
    stale = (User.objects.filter(is_active=True).exclude(role=Role.RESIDENT, is_staff=False, is_superuser=False)
             .exclude(last_login__gte=cutoff).exclude(last_login__isnull=True, date_joined__gte=cutoff))
    names = []
    for user in stale.select_for_update():
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit(actor=actor, action="account.disable_inactive", obj=user, data={"days": days})
        names.append(user.username)
    return names
