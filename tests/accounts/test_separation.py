"""三员分立: the system, security and audit administrators see no case or personal data."""

import pytest

from gridgov.accounts.models import Role
from gridgov.accounts.services import issue_token
from gridgov.cases import services as cs
from tests.factories import make_user, verified_login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR])
def test_administrators_cannot_read_cases(w, client, role):
    case = cs.report_case(actor=w.users["worker"], channel="patrol", title="辖区案件", grid=w.grids[0])
    admin = make_user(f"a_{role}", role, region=w.city)  # even when attached to the whole city
    admin.is_staff = True
    admin.save()
    raw = issue_token(actor=None, user=admin, name="t")[1]
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/cases", headers=headers).json()["count"] == 0
    assert client.get(f"/api/cases/{case.number}", headers=headers).status_code == 404
    verified_login(client, admin)
    assert client.get("/admin/cases/case/").status_code == 403
    assert client.get(f"/admin/cases/case/{case.pk}/change/").status_code == 403
    if role != Role.AUDITOR:
        assert client.get("/admin/privacy/auditrecord/").status_code in (403, 404)
        assert not admin.has_perm("privacy.view_auditrecord")
    else:
        assert admin.has_perm("privacy.view_auditrecord")


def test_system_admin_cannot_grant_superuser(w, client):
    sysadmin = make_user("sysadmin", Role.SYSTEM_ADMIN)
    sysadmin.is_staff = True
    sysadmin.save()
    verified_login(client, sysadmin)
    page = client.get(f"/admin/accounts/user/{w.users['worker'].pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page
