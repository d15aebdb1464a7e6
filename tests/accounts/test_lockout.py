"""R2: 5 failures lock for 30 minutes, per account and per IP; every answer looks the same."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from gridgov.accounts.models import LoginEvent
from gridgov.privacy.models import AuditRecord

from .conftest import PASSWORD, browser, login, strip_csrf

pytestmark = pytest.mark.django_db


def signed_in(client) -> bool:
    return client.get("/api/me").status_code == 200


def test_sixth_attempt_with_the_right_password_is_refused_until_30_minutes(w):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = browser("10.0.0.5")
        failure = login(client, "worker", "wrong-Pass-1")
        for _ in range(4):
            login(client, "worker", "wrong-Pass-1")
        locked = login(client, "worker", PASSWORD)  # the 6th, correct
        assert locked.status_code == 200 and not signed_in(client)
        assert strip_csrf(locked.content) == strip_csrf(failure.content)
        clock.move_to(start + timedelta(minutes=29))
        client = browser("10.0.0.6")  # another address: the account itself is locked
        login(client, "worker", PASSWORD)
        assert not signed_in(client)
        clock.move_to(start + timedelta(minutes=30, seconds=1))
        client = browser("10.0.0.6")
        assert login(client, "worker", PASSWORD).status_code == 302
        assert signed_in(client)
    assert LoginEvent.objects.filter(username="worker", kind="lockout").exists()
    assert AuditRecord.objects.filter(action="login.lockout").exists()
    assert AuditRecord.objects.filter(action="login.failure").count() >= 5


def test_an_address_is_locked_across_accounts(w):
    client = browser("10.0.0.7")
    for name in ("nosuch1", "nosuch2", "resident", "resident2", "staff"):
        login(client, name, "wrong-Pass-1")
    other = browser("10.0.0.7")
    login(other, "worker", PASSWORD)  # the account is fine, the address is not
    assert not signed_in(other)
    elsewhere = browser("10.0.0.8")
    login(elsewhere, "worker", PASSWORD)
    assert signed_in(elsewhere)


def test_unknown_user_wrong_password_and_lockout_answer_byte_identically(w):
    unknown = login(browser("10.1.0.1"), "no-such-user", "wrong-Pass-1")
    wrong = login(browser("10.1.0.2"), "worker", "wrong-Pass-1")
    assert unknown.status_code == wrong.status_code == 200
    assert strip_csrf(unknown.content) == strip_csrf(wrong.content)
    assert "用户名或密码错误" in unknown.content.decode()
    client = browser("10.1.0.3")
    for _ in range(5):
        login(client, "dispatcher", "wrong-Pass-1")
    locked = login(client, "dispatcher", PASSWORD)
    assert strip_csrf(locked.content) == strip_csrf(wrong.content)
    assert locked.status_code == 200


def test_success_and_failure_are_in_the_users_history(w):
    client = browser("10.2.0.1")
    login(client, "worker", "wrong-Pass-1")
    login(client, "worker", PASSWORD)
    kinds = list(LoginEvent.objects.filter(user=w.users["worker"]).order_by("at", "id").values_list("kind", "ip"))
    assert kinds == [("failure", "10.2.0.1"), ("success", "10.2.0.1")]
    events = client.get("/api/me/logins").json()
    assert [e["kind"] for e in events] == ["success", "failure"]
    assert events[0]["ip"] == "10.2.0.1" and events[1]["kind_label"] == "登录失败"
    page = client.get("/accounts/logins/").content.decode()
    assert "登录失败" in page and "10.2.0.1" in page
    client.post("/accounts/logout/")
    assert LoginEvent.objects.filter(user=w.users["worker"], kind="logout").exists()
    assert AuditRecord.objects.filter(action="login.logout").exists()
