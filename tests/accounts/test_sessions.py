"""R4: idle timeout, session id rotation, cookie flags."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from gridgov.accounts.models import LoginEvent

from .conftest import browser, login

pytestmark = pytest.mark.django_db


def test_idle_session_ends_after_30_minutes_not_29(w, settings):
    assert settings.GRIDGOV["SESSION_IDLE_MINUTES"] == 30
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = browser()
        login(client, "worker")
        assert client.get("/api/me").status_code == 200
        clock.move_to(start + timedelta(minutes=29))
        assert client.get("/api/me").status_code == 200  # activity: the clock restarts (at minute resolution)
        clock.move_to(start + timedelta(minutes=29 + 29))
        assert client.get("/").status_code == 200
        clock.move_to(start + timedelta(minutes=29 + 29 + 31))
        r = client.get("/")
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/") and "timeout=1" in r["Location"]
        assert client.get("/api/me").status_code == 401  # signed out for good
    assert LoginEvent.objects.filter(user=w.users["worker"], kind="timeout").exists()


def test_idle_api_session_gets_a_structured_401(w):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = browser()
        login(client, "worker")
        clock.move_to(start + timedelta(minutes=31))
        r = client.get("/api/me", headers={"Authorization": "Bearer ggv_not-a-token"})  # no way around it
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"
        assert client.get("/api/me").status_code == 401


def test_session_id_is_rotated_at_login(w):
    client = browser()
    client.get("/accounts/login/")
    client.session["probe"] = 1  # an anonymous session exists
    session = client.session
    session["probe"] = 1
    session.save()
    before = client.cookies["sessionid"].value
    login(client, "worker")
    after = client.cookies["sessionid"].value
    assert before != after


def test_cookie_flags(w):
    client = browser()
    r = login(client, "worker")
    cookie = r.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    # Secure and the __Host- prefix come with GRIDGOV_TLS=1 (settings read at start-up)
    import importlib
    import os

    import gridgov.settings as project

    os.environ["GRIDGOV_TLS"] = "1"
    try:
        tls = importlib.reload(project)
        assert tls.SESSION_COOKIE_SECURE and tls.SESSION_COOKIE_NAME == "__Host-sessionid"
        assert tls.CSRF_COOKIE_NAME == "__Host-csrftoken"
    finally:
        del os.environ["GRIDGOV_TLS"]
        importlib.reload(project)


def test_login_page_is_chinese_and_scriptless(w):
    page = browser().get("/accounts/login/").content.decode()
    assert "登录" in page and "<script" not in page and "csrfmiddlewaretoken" in page
    assert browser().get("/admin/login/?next=/admin/")["Location"].startswith("/accounts/login/")


def test_next_cannot_leave_the_site(w):
    client = browser()
    r = client.post("/accounts/login/", {"username": "worker", "password": "Test-pass-2026", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/"
