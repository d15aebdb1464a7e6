"""API tokens: hashed, expiring, revocable, narrowed to some roles and a jurisdiction."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from gridgov.accounts import services
from gridgov.accounts.models import ApiToken, Role
from gridgov.cases import services as cs
from gridgov.errors import InvalidInput

pytestmark = pytest.mark.django_db


def get(raw, path):
    return Client().get(f"/api{path}", headers={"Authorization": f"Bearer {raw}"})


def test_token_is_stored_as_a_digest_and_expires(w):
    token, raw = services.issue_token(actor=None, user=w.users["worker"], name="app", days=1)
    assert raw not in token.digest and len(token.digest) == 64
    assert get(raw, "/me").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert get(raw, "/me").status_code == 401


def test_revoked_token_is_refused_at_once(w):
    token, raw = services.issue_token(actor=None, user=w.users["worker"], name="app")
    services.revoke_token(actor=w.users["admin"], token=token)
    assert get(raw, "/me").status_code == 401


def test_disabled_user_token_is_refused(w):
    _, raw = services.issue_token(actor=None, user=w.users["worker"], name="app")
    w.users["worker"].is_active = False
    w.users["worker"].save()
    assert get(raw, "/me").status_code == 401


def test_lifetime_is_capped(w, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "TOKEN_MAX_DAYS": 30}
    with pytest.raises(InvalidInput):
        services.issue_token(actor=None, user=w.users["worker"], name="app", days=31)


def test_role_subset_limits_actions(w):
    staff = w.users["staff"]
    services.add_post(actor=None, user=staff, role=Role.GRID_LEADER, grid=w.grids[1])
    _, both = services.issue_token(actor=None, user=staff, name="all")
    _, leader_only = services.issue_token(actor=None, user=staff, name="leader", roles=[Role.GRID_LEADER])
    assert "accept" in get(both, "/me").json()["actions"]
    me = get(leader_only, "/me").json()
    assert "accept" not in me["actions"] and "supervise" in me["actions"]
    with pytest.raises(InvalidInput):
        services.issue_token(actor=None, user=staff, name="x", roles=[Role.DISPATCHER])


def test_jurisdiction_is_narrowed_and_never_widened(w):
    a = cs.report_case(actor=w.users["worker"], channel="patrol", title="一网格的案件", grid=w.grids[0])
    b = cs.report_case(actor=w.users["staff"], channel="patrol", title="二网格的案件", grid=w.grids[1])
    dispatcher = w.users["dispatcher"]
    _, whole = services.issue_token(actor=None, user=dispatcher, name="whole")
    _, narrow = services.issue_token(actor=None, user=dispatcher, name="g1", scope_path=w.grids[0].path)

    def numbers(raw):
        return {c["number"] for c in get(raw, "/cases").json()["items"]}

    assert {a.number, b.number} <= numbers(whole)
    assert numbers(narrow) == {a.number}
    assert get(narrow, f"/cases/{b.number}").status_code == 404
    with pytest.raises(InvalidInput):
        services.issue_token(actor=None, user=dispatcher, name="wider", scope_path=w.street2.path)


def test_token_command_issue_list_revoke(w):
    out, err = StringIO(), StringIO()
    call_command("token", "issue", "worker", "--name", "手机", "--days", "7", "--grid", w.grids[0].code, stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert raw.startswith("ggv_") and get(raw, "/me").status_code == 200
    token = ApiToken.objects.get(user=w.users["worker"])
    out = StringIO()
    call_command("token", "list", "worker", stdout=out)
    assert token.prefix in out.getvalue() and "active" in out.getvalue()
    call_command("token", "revoke", token.prefix, stdout=StringIO())
    assert get(raw, "/me").status_code == 401
    with pytest.raises(CommandError):
        call_command("token", "issue", "nobody-here", "--name", "x", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("token", "issue", "worker", "--name", "x", "--days", "9999", stdout=StringIO())
