"""R3: TOTP second factor for administrators, auditors, dispatchers and leaders, on every entry point."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from gridgov.accounts import services
from gridgov.privacy.models import AuditRecord

from .conftest import browser, device_for, login, totp_code

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["dispatcher", "leader", "auditor", "admin"])
def test_mfa_roles_get_nothing_before_the_second_factor(w, name):
    device_for(w.users[name])
    client = browser()
    assert login(client, name).status_code == 302
    for path in ("/", "/admin/", "/accounts/logins/", "/accounts/password/"):
        r = client.get(path)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/otp/"), path
    for path in ("/api/me", "/api/cases", "/api/me/logins"):
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "otp_required", path
    # A bearer header that fails does not let the session through either
    r = client.get("/api/me", headers={"Authorization": "Bearer ggv_nonsense"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_required"
    r = client.post("/api/cases", "{}", content_type="application/json")
    assert r.status_code in (401, 403)


@pytest.mark.parametrize("name", ["worker", "staff", "handler", "resident"])
def test_other_roles_need_no_second_factor(w, name):
    client = browser()
    login(client, name)
    assert client.get("/api/me").status_code == 200


def test_verify_then_replay_is_refused(w):
    user = w.users["dispatcher"]
    device = device_for(user)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = browser()
        login(client, "dispatcher")
        code = totp_code(device)
        r = client.post("/accounts/otp/", {"token": "000000" if code != "000000" else "111111"})
        assert r.status_code == 200 and "动态口令错误" in r.content.decode()
        r = client.post("/accounts/otp/", {"token": code})  # too soon after a failure: throttled
        assert "尝试过于频繁" in r.content.decode()
        clock.move_to(start + timedelta(seconds=2))
        code = totp_code(device)
        before = client.session.session_key
        r = client.post("/accounts/otp/", {"token": code, "next": "/api/me"})
        assert r.status_code == 302 and r["Location"] == "/api/me"
        assert client.session.session_key != before  # a new session id at the step up
        assert client.get("/api/me").json()["username"] == "dispatcher"
        # The same code, again, in another session (someone who saw it): refused
        thief = browser("10.9.9.9")
        login(thief, "dispatcher")
        r = thief.post("/accounts/otp/", {"token": code})
        assert r.status_code == 200 and "已使用过" in r.content.decode()
        assert thief.get("/api/me").status_code == 401
    assert AuditRecord.objects.filter(action="login.otp_failure").exists()


def test_enrolment_shows_the_secret_and_confirms_the_device(w):
    client = browser()
    login(client, "leader")
    r = client.get("/")
    assert r["Location"].startswith("/accounts/otp/")
    r = client.get("/accounts/otp/", follow=True)
    page = r.content.decode()
    assert "otpauth://totp/" in page and "<svg" in page and "<script" not in page
    assert not TOTPDevice.objects.filter(user=w.users["leader"]).exists()  # looking changes nothing
    device = TOTPDevice(user=w.users["leader"], key=client.session["gg_otp_enrol_key"])
    r = client.post("/accounts/otp/enrol/", {"token": totp_code(device)})
    assert r.status_code == 302
    device = TOTPDevice.objects.get(user=w.users["leader"])
    assert device.confirmed
    assert client.get("/api/me").status_code == 200
    assert AuditRecord.objects.filter(action="account.otp_enrol").exists()
    # Once a device exists, a password alone cannot enrol another one
    other = browser("10.3.3.3")
    login(other, "leader")
    r = other.get("/accounts/otp/enrol/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/otp/?")
    assert TOTPDevice.objects.filter(user=w.users["leader"]).count() == 1


def test_a_password_reset_does_not_skip_the_second_factor(w):
    device = device_for(w.users["dispatcher"])
    services.reset_password(actor=w.users["admin"], user=w.users["dispatcher"], new_password="Temp-Pass-2026x")
    client = browser()
    login(client, "dispatcher", "Temp-Pass-2026x")
    r = client.get("/accounts/password/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/otp/")  # the factor first
    with time_machine.travel(timezone.now() + timedelta(seconds=1)):
        client.post("/accounts/otp/", {"token": totp_code(device)})
    r = client.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/password/")  # then the password
    assert client.get("/api/me").json()["error"]["code"] == "password_change_required"


def test_tokens_are_issued_only_outside_the_web_session(w):
    # No API endpoint issues tokens: an OTP-less session cannot mint one.
    client = browser()
    login(client, "dispatcher")
    for path in ("/api/tokens", "/api/me/tokens"):
        assert client.post(path, "{}", content_type="application/json").status_code in (401, 404)
