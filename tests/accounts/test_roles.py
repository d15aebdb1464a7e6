"""Permissions as data: the role table, its per-process cache, and who may edit it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.accounts import permissions, services
from gridgov.accounts.models import ConfigVersion, Role, RoleAction, User
from gridgov.accounts.permissions import DEFAULT_ROLE_ACTIONS, can
from gridgov.errors import Forbidden
from gridgov.privacy.models import AuditRecord
from tests.factories import make_user, verified_login

pytestmark = pytest.mark.django_db


def test_the_migration_seeded_todays_defaults(w):
    table = permissions.role_table()
    for role, actions in DEFAULT_ROLE_ACTIONS.items():
        assert table.get(role, frozenset()) == actions, role


def test_an_edit_here_is_seen_by_can_at_once(w):
    worker = w.users["worker"]
    assert not can(worker, "dispatch")
    secadmin = make_user("secadmin", Role.SECURITY_ADMIN)
    services.grant(actor=secadmin, role=Role.GRID_WORKER, action="dispatch")
    assert can(worker, "dispatch")
    services.revoke(actor=secadmin, role=Role.GRID_WORKER, action="dispatch")
    assert not can(worker, "dispatch")
    assert AuditRecord.objects.filter(action__in=["role.grant", "role.revoke"]).count() == 2


def test_an_edit_in_another_process_is_seen_within_the_ttl(w, settings, monkeypatch):
    worker = w.users["worker"]
    settings.GRIDGOV = {**settings.GRIDGOV, "ROLE_TABLE_TTL": 60}
    assert not can(worker, "dispatch")
    # Another process: writes the row and bumps the version, without touching our copy
    RoleAction.objects.create(role=Role.GRID_WORKER, action="dispatch")
    ConfigVersion.objects.filter(key=permissions.ROLE_TABLE_KEY).update(version=99)
    assert not can(worker, "dispatch")  # still within the TTL: the copy is trusted
    clock = [permissions.time.monotonic() + 61]
    monkeypatch.setattr(permissions.time, "monotonic", lambda: clock[0])
    assert can(worker, "dispatch")  # the TTL passed: version row read, table reloaded


def test_can_costs_no_query_within_the_ttl(w):
    worker = w.users["worker"]
    can(worker, "report")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            can(worker, "report")
            can(worker, "dispatch")
    assert len(queries) == 0


def test_only_the_security_admin_or_superuser_edits_roles(w):
    sysadmin = make_user("sysadmin", Role.SYSTEM_ADMIN)
    with pytest.raises(Forbidden):
        services.grant(actor=sysadmin, role=Role.GRID_WORKER, action="dispatch")
    services.grant(actor=w.users["admin"], role=Role.GRID_WORKER, action="dispatch")  # superuser


def _staff(username, role):
    user = make_user(username, role)
    user.is_staff = True
    user.save()
    return user


def test_admin_pages_follow_the_role_table(w, client):
    sysadmin, secadmin, auditor = (_staff("sysadmin", Role.SYSTEM_ADMIN), _staff("secadmin", Role.SECURITY_ADMIN),
                                   User.objects.get(username="auditor"))
    auditor.is_staff = True
    auditor.save()
    expect = {
        sysadmin: {"/admin/accounts/user/": 200, "/admin/accounts/roleaction/": 403, "/admin/places/region/": 200,
                   "/admin/cases/case/": 403, "/admin/accounts/loginevent/": 403},
        secadmin: {"/admin/accounts/roleaction/": 200, "/admin/accounts/roleaction/add/": 200,
                   "/admin/cases/case/": 403, "/admin/places/region/": 403},
        auditor: {"/admin/accounts/loginevent/": 200, "/admin/accounts/user/": 403, "/admin/cases/case/": 403,
                  "/admin/accounts/roleaction/": 403},
    }
    for user, pages in expect.items():
        verified_login(client, user)
        for path, status in pages.items():
            assert client.get(path).status_code == status, (user.username, path)
    # an edit in the admin by the security admin reaches can()
    verified_login(client, secadmin)
    r = client.post("/admin/accounts/roleaction/add/", {"role": Role.GRID_WORKER, "action": "dispatch"})
    assert r.status_code == 302
    assert can(w.users["worker"], "dispatch")
