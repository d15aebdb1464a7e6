"""R27/F18: CSRF on every state-changing endpoint, and GETs that change nothing.

- Every unsafe API operation (read from the routers), called with a signed-in session but no
  CSRF token, or with the token and a foreign Origin, answers 403 `csrf_failed`; the same
  call with the token and the app's own origin passes the CSRF check (a control: the test
  fails if the check is simply switched off).
- Every other Django route, posted to by a signed-in staff session without a token, answers
  403 (Django's CSRF middleware).
- A GET of every API operation and page, by every role, leaves every table's row count as it
  was (except policy.yaml's bookkeeping tables).
"""

import json

import pytest
import yaml
from django.apps import apps
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from tests.factories import verified_login

from .oracle import POLICY_PATH
from .routes import SAFE_METHODS, api_operations, django_routes, probe_path

_POLICY = yaml.safe_load(POLICY_PATH.read_text(encoding="utf-8"))
FOREIGN = "https://evil.example.com"


def _session(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    verified_login(client, user)  # second factor done, else the OTP gate answers before the CSRF check
    # A CSRF cookie and its token, as a page of the app would give the browser.
    request = RequestFactory().get("/")
    token = get_token(request)
    client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    return client, token


def _code(response) -> str:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""


def _path(route: str, sw) -> str:
    number = next(iter(sw.cases.values())).number
    return probe_path(route.replace("<number>", number).replace("<code>", sw.grids["g0"].code))


def test_every_unsafe_api_operation_needs_the_csrf_token(sw):
    client, token = _session(sw.users["dispatcher"])
    unsafe = [(m, r) for m, r, _op in api_operations() if m not in SAFE_METHODS]
    missing_token, foreign_origin, control = [], [], []
    for method, route in unsafe:
        path, body = _path(route, sw), json.dumps({})
        r = client.generic(method, path, body, content_type="application/json")
        if r.status_code != 403 or _code(r) != "csrf_failed":
            missing_token.append(f"{method} {route} → {r.status_code} {_code(r)}")
        r = client.generic(method, path, body, content_type="application/json", headers={"X-CSRFToken": token, "Origin": FOREIGN})
        if r.status_code != 403 or _code(r) != "csrf_failed":
            foreign_origin.append(f"{method} {route} → {r.status_code} {_code(r)}")
        r = client.generic(method, path, body, content_type="application/json",
                           headers={"X-CSRFToken": token, "Origin": "http://testserver"})
        if _code(r) == "csrf_failed":
            control.append(f"{method} {route}")
    rejected = len(unsafe) - len({e.split(" →")[0] for e in missing_token + foreign_origin})
    print(f"\nF18 CSRF (API): {rejected}/{len(unsafe)} state-changing operations reject a session call without the "
          f"token and with a foreign Origin; {len(unsafe) - len(control)}/{len(unsafe)} accept the same call with it")
    assert unsafe
    assert not missing_token, missing_token
    assert not foreign_origin, foreign_origin
    assert not control, f"the CSRF check refuses even a correct token: {control}"


def test_every_other_django_route_refuses_a_post_without_the_token(sw):
    api_routes = {r for _m, r, _op in api_operations()}
    client, _token = _session(sw.users["admin"])
    routes = [r for r, _p in django_routes() if r not in api_routes and not r.startswith("api/")]
    accepted = []
    for route in routes:
        r = client.post(_path(route, sw), {"name": "x"})
        if r.status_code != 403:
            accepted.append(f"POST {route} → {r.status_code}")
    print(f"\nF18 CSRF (pages, admin): {len(routes) - len(accepted)}/{len(routes)} routes refuse a session POST without the token")
    assert not accepted, accepted


def _row_counts() -> dict[str, int]:
    allowed = set(_POLICY.get("bookkeeping_tables", []))
    return {m._meta.label_lower: m._default_manager.count() for m in apps.get_models()
            if m._meta.label_lower not in allowed and m._meta.managed}


@pytest.mark.django_db
def test_gets_change_no_row(sw):
    gets = [r for m, r, _op in api_operations() if m == "GET"]
    routes = [r for r, _p in django_routes() if not r.startswith("api/")]
    pages = [r for r in routes if not r.startswith("admin/")]
    tokens = {role.user: sw.headers(role.user) for role in sw.policy.roles.values()}  # issued before counting
    sessions = {}
    for username in [*tokens, "admin"]:
        # Second factor done (its device created here, before counting): a session without one
        # would only meet the OTP gate.
        sessions[username] = Client()
        verified_login(sessions[username], sw.users[username])
    before = _row_counts()
    calls = 0
    for username, session in sessions.items():
        case = sw.cases["dept_assigned"]  # seen by some roles, hidden from others
        for route in gets:
            path = probe_path(route.replace("<number>", case.number).replace("<code>", case.grid.code))
            params = {"lat": case.lat, "lon": case.lon}
            if username in tokens:
                Client().get(path, params, headers=tokens[username])
            session.get(path, params)
            calls += 2
        # The admin's pages only for the one who may open them; the others' are refused anyway.
        for route in routes if username == "admin" else pages:
            session.get(probe_path(route))
            calls += 1
    after = _row_counts()
    changed = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
    print(f"\nR27 GET safety: {calls} GETs by {len(sessions)} users; tables whose row count changed: {changed or 'none'}")
    assert not changed
