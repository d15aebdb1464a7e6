"""R1: password policy, history, expiry and forced change, and Argon2 hashing."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from gridgov.accounts import services
from gridgov.accounts.models import PasswordHistory, User
from gridgov.errors import InvalidInput
from gridgov.privacy.models import AuditRecord

from .conftest import PASSWORD, browser, login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("password", [
    "short1A",  # 7 characters
    "alllowercase",  # one class
    "lowercase123",  # two classes
    "12345678901",  # numeric, one class
    "Password1",  # common
    "zhangwei-Mark",  # three classes, but too close to the username
])
def test_weak_passwords_are_rejected(password):
    user = User(username="zhangwei", display_name="zhangwei-mark")
    with pytest.raises(ValidationError):
        validate_password(password, user)


@pytest.mark.parametrize("password", ["Qz7#mplx", "harbour-Light-42", "暖阳Spring2026", "G7r!d-g0v"])
def test_strong_passwords_pass(password):
    validate_password(password, User(username="zhangwei"))


def test_argon2_is_the_default_hasher(settings):
    from django.conf import settings as live
    from django.contrib.auth.hashers import make_password

    # conftest swaps in MD5 for speed; the project's own setting puts Argon2 first.
    import gridgov.settings as project

    assert project.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = project.PASSWORD_HASHERS
    assert make_password("Qz7#mplx").startswith("argon2$argon2id$")
    assert live.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_last_five_passwords_cannot_be_reused(w):
    user = w.users["worker"]
    history = ["Harbour-Light-1", "Harbour-Light-2", "Harbour-Light-3", "Harbour-Light-4", "Harbour-Light-5"]
    for new in history:
        services.change_password(user=user, old_password=None, new_password=new)
    for old in history:
        with pytest.raises(InvalidInput) as exc:
            services.change_password(user=user, old_password=None, new_password=old)
        assert "最近5次" in exc.value.message_zh
    services.change_password(user=user, old_password=None, new_password="Harbour-Light-6")  # pragma: allowlist secret
    # Harbour-Light-1 has now dropped out of the last five
    services.change_password(user=user, old_password=None, new_password="Harbour-Light-1")  # pragma: allowlist secret
    assert PasswordHistory.objects.filter(user=user).count() == 5


def test_new_account_must_change_password_on_first_login(w):
    user = User.objects.create_user("newbie", password="Initial-Pass-9", role="grid_worker", region=w.community,  # pragma: allowlist secret
                                    grid=w.grids[0])
    assert user.must_change_password
    client = browser()
    r = login(client, "newbie", "Initial-Pass-9")
    assert r.status_code == 302
    # Every page leads to the change form, the session API answers 403
    r = client.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/password/")
    r = client.get("/api/me")
    assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
    # Errors next to the fields, in Chinese
    r = client.post("/accounts/password/", {"old_password": "Initial-Pass-9", "new_password1": "abc",  # pragma: allowlist secret
                                            "new_password2": "abc"})
    assert r.status_code == 200
    body = r.content.decode()
    assert "密码须包含" in body and 'class="field invalid"' in body
    r = client.post("/accounts/password/", {"old_password": "wrong", "new_password1": "Brand-New-Pass7",  # pragma: allowlist secret
                                            "new_password2": "Brand-New-Pass7"})  # pragma: allowlist secret
    assert "原密码不正确" in r.content.decode()
    r = client.post("/accounts/password/", {"old_password": "Initial-Pass-9", "new_password1": "Brand-New-Pass7",  # pragma: allowlist secret
                                            "new_password2": "Brand-New-Pass7"})  # pragma: allowlist secret
    assert r.status_code == 302
    assert client.get("/api/me").status_code == 200
    user.refresh_from_db()
    assert not user.must_change_password and user.check_password("Brand-New-Pass7")
    assert AuditRecord.objects.filter(action="account.password_change", object_id=str(user.pk)).exists()


def test_admin_reset_forces_a_change(w):
    user = w.users["worker"]
    services.reset_password(actor=w.users["admin"], user=user, new_password="Temp-Pass-2026x")
    client = browser()
    login(client, "worker", "Temp-Pass-2026x")
    assert client.get("/").status_code == 302
    assert client.get("/api/cases").json()["error"]["code"] == "password_change_required"


def test_expired_password_forces_a_change_that_cannot_be_bypassed(w, settings):
    assert settings.GRIDGOV["PASSWORD_MAX_AGE_DAYS"] == 90
    client = browser()
    login(client, "worker")
    assert client.get("/api/me").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=89), tick=False):
        client = browser()
        login(client, "worker")
        assert client.get("/api/me").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=91), tick=False):
        client = browser()
        login(client, "worker")
        for path in ("/", "/admin/", "/accounts/logins/", "/accounts/otp/"):
            r = client.get(path)
            assert r.status_code == 302 and r["Location"].startswith("/accounts/password/"), path
        assert client.get("/api/cases").json()["error"]["code"] == "password_change_required"
        page = client.get("/accounts/password/").content.decode()
        assert "超过90天" in page
        r = client.post("/accounts/password/", {"old_password": PASSWORD, "new_password1": "Fresh-Pass-2027",  # pragma: allowlist secret
                                                "new_password2": "Fresh-Pass-2027"})  # pragma: allowlist secret
        assert r.status_code == 302
        assert client.get("/api/me").status_code == 200
