"""The API's error contract: one JSON shape for every failure, session auth with CSRF,
and no 500 on bad input anywhere in the OpenAPI document."""

import json
import logging

import pytest
from django.test import Client

from gridgov.cases.models import Case

from .conftest import Api, error_of

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}


def test_health_needs_no_login(client):
    assert client.get("/api/health").json() == {"status": "ok"}


def test_unknown_route_is_json_404(as_user, w):
    for api in [as_user(None), as_user("dispatcher")]:
        for method in ["GET", "POST", "DELETE"]:
            error = error_of(api.raw(method, "/no/such/thing"), 404)
            assert error["code"] == "not_found" and error["details"]["path"] == "/api/no/such/thing"
    assert error_of(as_user("dispatcher").get("/cases/"), 404)["code"] == "not_found"


def test_wrong_method_is_json_405(as_user, w):
    api = as_user("dispatcher")
    for method, path in [("DELETE", "/cases"), ("PUT", "/categories"), ("PATCH", "/me"), ("POST", "/health")]:
        r = api.raw(method, path)
        error = error_of(r, 405)
        assert error["code"] == "method_not_allowed" and r["Allow"]


def test_unexpected_exception_is_logged_json_500(as_user, w, monkeypatch, caplog):
    from gridgov.cases import services

    def boom(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "report_case", boom)
    with caplog.at_level(logging.ERROR, logger="gridgov.api"):
        r = as_user("worker").post("/cases", REPORT)
    error = error_of(r, 500)
    assert error["code"] == "internal_error" and "fire" not in r.content.decode()
    assert any("Unhandled API error" in rec.message for rec in caplog.records)


def test_unexpected_exception_is_json_even_without_debug(as_user, w, monkeypatch, settings):
    from gridgov.cases import services

    settings.DEBUG = False
    monkeypatch.setattr(services, "report_case", lambda **kw: 1 / 0)
    assert error_of(as_user("worker").post("/cases", REPORT), 500)["code"] == "internal_error"


def test_session_login_with_csrf(w):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(w.users["worker"])  # a password sign-in needs the login page (django-axes wants the request)
    assert browser.get("/api/me").json()["username"] == "worker"  # safe methods need no token
    body = json.dumps(REPORT)
    error = error_of(browser.post("/api/cases", body, content_type="application/json"), 403)
    assert error["code"] == "csrf_failed"
    assert not Case.objects.exists()
    token = "a" * 32
    browser.cookies["csrftoken"] = token
    error = error_of(browser.post("/api/cases", body, content_type="application/json", headers={"X-CSRFToken": "b" * 32}), 403)
    assert error["code"] == "csrf_failed"
    r = browser.post("/api/cases", body, content_type="application/json", headers={"X-CSRFToken": token})
    assert r.status_code == 201, r.content
    assert Case.objects.get().reporter == w.users["worker"]
    browser.logout()
    assert error_of(browser.post("/api/cases", body, content_type="application/json", headers={"X-CSRFToken": token}), 401)


def test_token_requests_need_no_csrf(w):
    from gridgov.accounts.services import issue_token

    raw = issue_token(actor=None, user=w.users["worker"], name="app")[1]
    api = Api(Client(enforce_csrf_checks=True), raw)
    assert api.post("/cases", REPORT).status_code == 201


def test_validation_error_shape(as_user, w):
    error = error_of(as_user("worker").post("/cases", {"title": "x" * 300, "lat": "north"}), 422)
    assert error["code"] == "invalid_input"
    assert error["message_zh"].startswith("提交的数据有误")
    fields = {f["field"]: f for f in error["details"]["fields"]}
    assert set(fields) == {"title", "lat", "channel"}
    assert fields["channel"]["message_zh"] == "必填" and fields["title"]["message_zh"] == "内容过长"
    assert error["details"]["field"] in fields
    assert all(f["in"] == "body" for f in fields.values())
    # Query parameters are reported the same way.
    error = error_of(as_user("worker").get("/cases", {"limit": "lots"}), 422)
    assert error["details"]["fields"][0] | {"message_en": ""} == {
        "field": "limit", "in": "query", "type": "int_parsing", "message_zh": "须为整数", "message_en": "",
    }


# --- no 500 anywhere on bad input --------------------------------------------------------

BAD_BODIES = [
    b"", b"{", b"null", b"[]", b"42", b'"text"', b'{"a": {"b": [1, 2, {"c": null}]}}',
    json.dumps({k: v for k, v in [("title", None), ("channel", 7), ("lat", "1e999"), ("rating", [])]}).encode(),
    json.dumps({"note": "\x00\ud800".encode("utf-8", "surrogatepass").decode("latin-1")}).encode(),
    b'{"review_on": "0000-00-00", "extra_working_days": 1e308, "grid": "' + b"9" * 5000 + b'"}',
    "中文" .encode("gb18030"),
]
BAD_QUERIES = [
    {"limit": "-1"}, {"offset": "1e9"}, {"status": ",,,"}, {"q": "%' OR 1=1 --"}, {"date_from": "0000-01-01"},
    {"include_inactive": "yes please"}, {"grid": "\x00"}, {"category": "x" * 1000},
]


def _operations(client):
    schema = client.get("/api/openapi.json").json()
    for path, item in schema["paths"].items():
        for method in item:
            yield method.upper(), path.removeprefix("/api")


@pytest.mark.parametrize("who", ["admin", "worker", None])
def test_no_endpoint_answers_500_on_bad_input(as_user, w, client, who):
    from gridgov.cases import services as cs

    case = cs.report_case(actor=w.users["worker"], channel="patrol", title="t", category=w.cats["litter"], grid=w.grids[0])
    api = as_user(who)
    seen = 0
    for method, path in _operations(client):
        for number in [case.number, "../../etc/passwd", "%00", "x" * 300]:
            target = path.replace("{number}", number)
            if method == "GET":
                for params in BAD_QUERIES:
                    r = api.get(target, params)
                    assert r.status_code < 500, (method, target, params, r.content[:300])
            else:
                for body in BAD_BODIES:
                    for content_type in ["application/json", "multipart/form-data; boundary=zzz", "text/plain"]:
                        r = api.raw(method, target, body, content_type)
                        assert r.status_code < 500, (method, target, body[:50], content_type, r.content[:300])
                        if r.status_code >= 400:
                            error_of(r, r.status_code)
            seen += 1
            if "{number}" not in path:
                break
    assert seen > 80


def test_openapi_documents_every_endpoint(client):
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    actions = ["accept", "reject", "merge", "dispatch", "start", "return", "request-extension", "decide-extension",
               "feedback", "verify", "close", "self-resolve", "supervise", "escalate", "hang", "resume", "evaluate",
               "callback", "reopen", "correct-location"]
    for path in ["/api/cases", "/api/cases/{number}", "/api/categories", "/api/departments", "/api/matrix/gaps", "/api/me"]:
        assert path in paths, path
    for action in actions:
        operation = paths[f"/api/cases/{{number}}/{action}"]["post"]
        content = operation["requestBody"]["content"]
        assert {"application/json", "multipart/form-data"} <= set(content), action
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CaseDetailOut")
    report = paths["/api/cases"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert report["properties"]["photos"]["items"]["format"] == "binary"
    assert set(schema["components"]["securitySchemes"]) == {"TokenAuth", "SessionAuth"}


def test_a_scalar_query_parameter_given_twice_is_refused(as_user, w):
    api = as_user("dispatcher")
    error = error_of(api.raw("GET", "/grids?region=350502001&region=350502002"), 422)
    assert error["code"] == "invalid_input" and error["details"]["field"] == "region"
    # Parameters declared as lists still take several values.
    assert api.raw("GET", "/cases?status=reported&status=accepted").status_code == 200
