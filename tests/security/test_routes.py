"""R6/F2 route coverage: every route is guarded by the one policy mechanism or allow-listed.

Two views of the same app, so neither can hide a route from the other:
- every django-ninja operation is read from the API's routers and must carry the project's
  authentication (`API_AUTH`); an anonymous call to it must answer 401;
- every Django URL pattern is walked; one that is not an API operation must refuse an
  anonymous probe (a login redirect, 401 or 403).
Routes open on purpose are listed in policy.yaml `public_routes` with the reason.
"""

import pytest
import yaml
from django.test import Client

from gridgov.accounts.api import API_AUTH

from .oracle import POLICY_PATH
from .routes import api_operations, django_routes, probe_path, refuses_anonymous

_POLICY = yaml.safe_load(POLICY_PATH.read_text(encoding="utf-8"))
PUBLIC = {entry["route"]: entry for entry in _POLICY.get("public_routes", [])}
KNOWN_GAPS = {entry["route"]: entry["why"] for entry in _POLICY.get("known_gaps", [])}


def is_public(route: str, method: str | None = None) -> bool:
    entry = PUBLIC.get(route)
    return entry is not None and (method is None or method in entry.get("methods", [method]))


def test_every_api_operation_requires_the_api_authentication(db):
    operations = api_operations()
    unguarded, anonymous_open = [], []
    client = Client()
    for method, route, operation in operations:
        if is_public(route, method):
            continue
        callbacks = list(operation.auth_callbacks)
        if [type(c) for c in callbacks] != [type(c) for c in API_AUTH] or not callbacks:
            unguarded.append(f"{method} {route}: auth={callbacks}")
            continue
        response = client.generic(method, probe_path(route), b"{}", content_type="application/json")
        if response.status_code != 401:
            anonymous_open.append(f"{method} {route}: anonymous → {response.status_code}")
    guarded = len(operations) - sum(is_public(r, m) for m, r, _ in operations) - len(unguarded)
    print(f"\nF2 API operations: {len(operations)} total, {guarded} require API_AUTH, "
          f"{sum(is_public(r, m) for m, r, _ in operations)} public by the allow-list, {len(unguarded)} unguarded")
    assert not unguarded, unguarded
    assert not anonymous_open, anonymous_open


def test_every_django_route_is_guarded_or_allow_listed(db):
    routes = django_routes()
    api_routes = {route for _m, route, _op in api_operations()}
    client = Client()
    unguarded, public, guarded_api, guarded_other, gaps = [], [], 0, 0, []
    for route, _pattern in routes:
        if route in KNOWN_GAPS:
            gaps.append(route)
            continue
        if route in PUBLIC:
            public.append(route)
            continue
        if route in api_routes:
            guarded_api += 1  # checked operation by operation above
            continue
        response = client.get(probe_path(route))
        if refuses_anonymous(response):
            guarded_other += 1
        else:
            unguarded.append(f"{route} → anonymous {response.status_code}")
    print(f"\nF2 Django URL patterns: {len(routes)} total = {guarded_api} API (API_AUTH) + {guarded_other} refusing "
          f"anonymous (admin login) + {len(public)} public by the allow-list + {len(gaps)} known gaps; "
          f"unguarded={len(unguarded)}")
    stale = [r for r in PUBLIC if r not in {route for route, _ in routes}]
    assert not stale, f"allow-list names routes that no longer exist: {stale}"
    assert not unguarded, unguarded


def _known_gap(route):
    """Each known gap is an xfail while it is open, and a failure once fixed (then remove it)."""
    if route not in {r for r, _ in django_routes()}:
        pytest.fail(f"{route} is gone: remove it from known_gaps in policy.yaml")
    if not refuses_anonymous(Client().get(probe_path(route))):
        pytest.xfail(f"{route}: {KNOWN_GAPS[route]}")
    pytest.fail(f"{route} now refuses anonymous callers: remove it from known_gaps in policy.yaml")


if KNOWN_GAPS:  # no test at all while the list is empty, rather than a skipped one

    @pytest.mark.parametrize("route", sorted(KNOWN_GAPS))
    def test_known_gaps(db, route):
        _known_gap(route)
