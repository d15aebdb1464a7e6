"""R5: no default accounts; dormant staff disabled."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from gridgov.accounts.checks import check_default_accounts
from gridgov.accounts.models import User
from gridgov.accounts.services import disable_inactive_staff
from gridgov.privacy.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_default_account_with_a_password_fails_the_deploy_check(w):
    assert check_default_accounts(databases=["default"]) [0].id == "gridgov.E201"  # build_world has "admin"
    admin = w.users["admin"]
    admin.set_unusable_password()
    admin.save()
    assert check_default_accounts(databases=["default"]) == []
    User.objects.create_user("Root", password="Whatever-Pass-1")  # pragma: allowlist secret
    assert "Root" in check_default_accounts(databases=["default"])[0].msg
    assert check_default_accounts(databases=None) == []  # only as a database check


def test_deploy_check_runs_from_the_command_line(w):
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="E201"):
        call_command("check", "--deploy", "--database", "default", "--tag", "security", stdout=StringIO(), stderr=StringIO())


def test_dormant_staff_are_disabled(w, settings):
    now = timezone.now()
    User.objects.filter(username="staff").update(last_login=now - timedelta(days=91))
    User.objects.filter(username="dispatcher").update(last_login=now - timedelta(days=10))
    User.objects.filter(username="resident").update(last_login=now - timedelta(days=400))
    User.objects.filter(username="leader").update(last_login=None, date_joined=now - timedelta(days=200))
    names = disable_inactive_staff(now=now)
    assert set(names) == {"staff", "leader"}
    assert not User.objects.get(username="staff").is_active
    assert User.objects.get(username="dispatcher").is_active and User.objects.get(username="resident").is_active
    assert AuditRecord.objects.filter(action="account.disable_inactive").count() == 2
    out = StringIO()
    User.objects.filter(username="dispatcher").update(last_login=now - timedelta(days=11))
    call_command("disable_inactive_staff", "--days", "10", stdout=out)
    assert "dispatcher" in out.getvalue()


def test_the_task_runs_the_same_service(w):
    from gridgov.accounts.tasks import disable_inactive_staff as job

    User.objects.filter(username="staff").update(last_login=timezone.now() - timedelta(days=365))
    assert "staff" in job.call()["disabled"]
