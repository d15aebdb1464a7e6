"""Auditors search and export the log under /api/audit/; nobody else can (三员分立);
refusals of authenticated callers are themselves audited."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from gridgov.accounts.services import issue_token
from gridgov.privacy.models import AuditRecord
from gridgov.privacy.services import audit
from tests.api.conftest import Api, error_of
from tests.factories import build_world, make_user, verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(db):
    return build_world()


@pytest.fixture
def as_user(w, client):
    def make(name):
        user = w.users[name] if isinstance(name, str) else name
        return Api(client, issue_token(actor=None, user=user, name="t")[1])

    return make


@pytest.fixture
def sample(w):
    dispatcher, worker = w.users["dispatcher"], w.users["worker"]
    from gridgov.privacy.middleware import RequestContext, current

    token = current.set(RequestContext(ip="10.1.2.3", request_id="r1", user_agent="ua"))
    try:
        audit(actor=dispatcher, action="case.dispatch", object_type="cases.case", object_id="11", data={"note": "=cmd|x"})
    finally:
        current.reset(token)
    audit(actor=worker, action="case.report", object_type="cases.case", object_id="12")
    audit(actor=worker, action="access.denied", object_type="api.request", object_id="GET", result="failure")
    return w


def test_auditor_searches_with_every_filter(sample, as_user):
    api = as_user("auditor")
    everything = api.get("/audit/records").json()
    assert everything["count"] == AuditRecord.objects.count() >= 3

    def by(**p):
        return [r["action"] for r in api.get("/audit/records", p).json()["items"]]

    assert by(actor="dispatcher") == ["case.dispatch"]
    assert set(by(action="case.")) == {"case.dispatch", "case.report"}
    assert by(object_type="cases.case", object_id="12") == ["case.report"]
    assert by(ip="10.1.2.3") == ["case.dispatch"]
    assert by(result="failure") == ["access.denied"]
    assert by(request_id="r1") == ["case.dispatch"]
    later = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
    assert by(since=later) == []
    assert len(by(until=later, action="case.")) == 2
    one = everything["items"][0]
    detail = api.get(f"/audit/records/{one['id']}").json()
    assert detail["hash"] == one["hash"] and detail["actor_name"] == one["actor_name"]
    assert error_of(api.get("/audit/records/999999999"), 404)["code"] == "not_found"
    assert error_of(api.get("/audit/records", {"result": "maybe"}), 422)["code"] == "invalid_input"


@pytest.mark.parametrize("name", ["dispatcher", "leader", "worker", "resident", "handler"])
def test_other_roles_are_refused_and_the_refusal_is_audited(sample, as_user, name):
    api = as_user(name)
    before = AuditRecord.objects.filter(action="access.denied", actor_name=name).count()
    for path in ("/audit/records", "/audit/export.csv", "/audit/verify", "/audit/records/1"):
        assert error_of(api.get(path), 403)["code"] == "auditors_only"
    denied = AuditRecord.objects.filter(action="access.denied", actor_name=name, result="failure")
    assert denied.count() == before + 4
    assert denied.first().data["path"].startswith("/api/audit/")


def test_system_admin_and_superusers_are_refused(sample, as_user, w):
    sysadmin = make_user("sysadmin", "system_admin")
    root = make_user("root", "system_admin", superuser=True)
    su_auditor = make_user("su_auditor", "auditor", superuser=True)
    for user in (sysadmin, root, su_auditor):
        assert error_of(as_user(user).get("/audit/records"), 403)["code"] == "auditors_only"


def test_anonymous_gets_401_and_leaves_no_record(sample, client):
    before = AuditRecord.objects.count()
    assert error_of(Api(client, None).get("/audit/records"), 401)["code"] == "unauthenticated"
    assert AuditRecord.objects.count() == before


def test_nobody_writes_through_the_api(sample, as_user):
    api = as_user("auditor")
    record = AuditRecord.objects.first()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert api.raw(method, f"/audit/records/{record.pk}", b"{}").status_code == 405
        assert api.raw(method, "/audit/records", b"{}").status_code == 405
    assert AuditRecord.objects.get(pk=record.pk).hash == record.hash


def test_export_is_watermarked_audited_and_formula_safe(sample, as_user, w):
    response = as_user("auditor").get("/audit/export.csv", {"action": "case."})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("# 导出人 exported by: auditor") and lines[-1] == lines[0]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:-1]))))
    assert {r["action"] for r in rows} == {"case.dispatch", "case.report"}
    dispatch = next(r for r in rows if r["action"] == "case.dispatch")
    assert dispatch["data"].startswith('{"note": "=cmd')  # JSON cell: starts with "{", not a formula
    export = AuditRecord.objects.get(action="audit.export")
    assert export.actor_name == "auditor" and export.data == {"rows": 2, "filters": {"action": "case."}}
    assert f"audit record #{export.pk}" in lines[0]


def test_verify_endpoint_reports_and_is_audited(sample, as_user):
    body = as_user("auditor").get("/audit/verify").json()
    assert body["ok"] is True and body["records"] >= 3
    assert AuditRecord.objects.filter(action="audit.verify", actor_name="auditor").exists()


def test_out_of_scope_case_is_404_and_audited(w, as_user):
    from gridgov.cases.services import report_case

    case = report_case(actor=w.users["worker"], channel="patrol", title="井盖缺失", lat=24.905, lon=118.505)
    outsider = as_user("worker_other")
    assert error_of(outsider.get(f"/cases/{case.number}"), 404)["code"] == "not_found"
    record = AuditRecord.objects.get(action="access.denied", actor_name="worker_other")
    assert record.result == "failure" and record.data["status"] == 404 and case.number in record.data["path"]
    assert record.ip == "127.0.0.1" and record.request_id
    # an unknown route is not an access decision
    outsider.get("/no/such/route")
    assert AuditRecord.objects.filter(action="access.denied", actor_name="worker_other").count() == 1


def test_admin_shows_the_log_read_only_to_auditors_only(sample, client, w):
    auditor = w.users["auditor"]
    auditor.is_staff = True
    auditor.save()
    verified_login(client, auditor)  # auditors sign in with a second factor
    assert client.get("/admin/privacy/auditrecord/").status_code == 200
    record = AuditRecord.objects.first()
    page = client.get(f"/admin/privacy/auditrecord/{record.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/privacy/auditrecord/{record.pk}/delete/").status_code == 403
    root = make_user("root", "system_admin", superuser=True)
    verified_login(client, root)
    assert client.get("/admin/privacy/auditrecord/").status_code == 403
