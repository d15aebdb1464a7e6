"""Rate limits (R29): 429 with the API's error body at the configured threshold, per user and
per address, an audit alert once per window, limits from settings and environment, and one
counter in the database for every process."""

import json
import os
import subprocess
import sys
import threading

import pytest
from django.db import close_old_connections, connection

from gridgov.privacy.models import AuditRecord
from gridgov.security import ratelimit
from gridgov.security.models import RateCounter

from .conftest import error_of

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def limits(settings):
    def set_limits(**rules):
        config = {**settings.GRIDGOV["RATE_LIMITS"]}
        for scope, (per_ip, per_user) in rules.items():
            config[scope] = {**config[scope], "per_ip": per_ip, "per_user": per_user}
        settings.GRIDGOV = {**settings.GRIDGOV, "RATE_LIMITS": config, "RATE_LIMITS_ENABLED": True}

    return set_limits


def test_case_report_per_user_limit_answers_429_and_alerts_once(as_user, w, limits):
    limits(case_report=(None, "3/m"))
    worker = as_user("worker")
    for _ in range(3):
        assert worker.post("/cases", REPORT).status_code == 201
    for _ in range(2):
        error = error_of(worker.post("/cases", REPORT), 429)
    assert error["code"] == "rate_limited" and "请求过于频繁" in error["message_zh"]
    assert error["details"]["scope"] == "case_report" and error["details"]["per"] == "user"
    assert error["details"]["limit"] == 3 and error["details"]["period_seconds"] == 60
    assert 1 <= error["details"]["retry_after"] <= 60
    # Another user from the same address is not affected by the worker's limit.
    assert as_user("resident").post("/cases", {**REPORT, "channel": "resident"}).status_code == 201
    alerts = AuditRecord.objects.filter(action="security.rate_limited")
    assert alerts.count() == 1  # one alert per window, not one per refused request
    assert alerts.get().data["scope"] == "case_report" and alerts.get().data["per"] == "user"


def test_per_ip_limit_counts_every_user_from_one_address(as_user, w, limits):
    limits(case_report=("4/m", None))
    names = ["worker", "resident", "worker_other", "dispatcher"]
    statuses = [as_user(n).post("/cases", {**REPORT, "channel": "resident"}).status_code for n in names]
    assert statuses == [201, 201, 201, 201]
    refused = as_user("leader").post("/cases", REPORT)
    error = error_of(refused, 429)
    assert error["details"]["per"] == "ip" and refused["Retry-After"].isdigit()


def test_limit_window_is_fixed_and_resets(rf, limits, db):
    limits(case_report=(None, "2/m"))
    rule = next(r for r in ratelimit.rules() if r.scope == "case_report")
    request = rf.post("/api/cases", headers={"Authorization": "Bearer ggv_abc"})
    t0 = 1_000_040.0  # 20 s into a minute window (1,000,020 is a multiple of 60)
    assert [ratelimit.check(request, rule, now=t0 + i) is None for i in range(3)] == [True, True, False]
    refusal = ratelimit.check(request, rule, now=t0 + 30)
    assert refusal.retry_after == 10 and not refusal.first
    assert ratelimit.check(request, rule, now=t0 + 40) is None  # the next window


def test_login_is_limited_per_address(client, w, limits):
    limits(login=("2/m", None))
    for _ in range(2):
        assert client.post("/accounts/login/", {"username": "admin", "password": "wrong"}).status_code == 200  # pragma: allowlist secret
    refused = client.post("/accounts/login/", {"username": "admin", "password": "wrong"})
    assert refused.status_code == 429 and "请求过于频繁" in refused.content.decode()
    assert refused["Content-Type"].startswith("text/html")


def test_client_address_behind_trusted_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.1")
    assert ratelimit.client_ip(request) == "10.0.0.2"  # no proxy trusted: the header is a client's claim
    settings.GRIDGOV = {**settings.GRIDGOV, "TRUSTED_PROXIES": 2}
    assert ratelimit.client_ip(request) == "203.0.113.9"


def test_limits_come_from_the_environment(tmp_path):
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.GRIDGOV['RATE_LIMITS_ENABLED'], s.GRIDGOV['RATE_LIMITS']['case_report']]))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gridgov.settings", "GRIDGOV_VAR_DIR": str(tmp_path),
           "GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_IP": "100000/m", "GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_USER": "off"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    enabled, rule = json.loads(out.stdout.strip().splitlines()[-1])
    assert enabled is True and rule["per_ip"] == "100000/m" and rule["per_user"] is None


@pytest.mark.parametrize("bad", ["ten/m", "5/fortnight", "0/m", "5/0"])
def test_malformed_limit_is_a_configuration_error(bad):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        ratelimit.parse_limit(bad)


def test_malformed_limit_fails_the_system_check(settings):
    from gridgov.security.checks import check_rate_limits

    settings.GRIDGOV = {**settings.GRIDGOV, "RATE_LIMITS": {"x": {"paths": ["("], "per_ip": "1/m"}}}
    assert [m.id for m in check_rate_limits()] == ["gridgov.E316"]


@pytest.mark.django_db(transaction=True)
def test_counter_is_shared_by_concurrent_connections(limits):
    """Workers are separate processes with separate connections; the count they see is the
    database's. Several threads, each with its own connection, count into one bucket."""
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(connection.settings_dict["NAME"]):
        pytest.skip("the in-memory test database of SQLite is not shared between connections as a file is")
    bucket, threads, hits_each = "test:ip:203.0.113.7:1", 4, 25
    errors = []

    def worker():
        try:
            for _ in range(hits_each):
                ratelimit.hit([(bucket, 2**40)])
        except Exception as exc:  # collected, asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert RateCounter.objects.get(bucket=bucket).count == threads * hits_each


def test_expired_windows_are_deleted(monkeypatch, db):
    RateCounter.objects.create(bucket="old", count=5, expires=1)
    monkeypatch.setattr(ratelimit.secrets, "randbelow", lambda n: 0)
    ratelimit.hit([("new", 2**40)])
    assert list(RateCounter.objects.values_list("bucket", flat=True)) == ["new"]


def test_openapi_documents_the_429(client, db):
    responses = client.get("/api/openapi.json").json()["paths"]["/api/cases"]["post"]["responses"]
    assert "429" in responses
