"""R9: fields a client must not set (grid, role, status, owner, is_superuser …) are refused.

Every unsafe API operation is called, as JSON and as a form, with its ordinary body from
policy.yaml (or an empty one) plus the protected fields; the answer must be a 4xx that names
them (inputs refuse unknown fields: `cases.schemas.In`), and no row anywhere may change: a snapshot of every table is compared before and after.
"""

import json
import re

from django.apps import apps
from django.forms.models import model_to_dict
from django.test import Client

from . import oracle
from .routes import SAFE_METHODS, api_operations

PROTECTED = ("grid_id", "region_id", "scope_path", "role", "status", "is_open", "owner_id", "owner_user_id",
             "owner_region_id", "owner_department_id", "assignee_id", "reporter_id", "is_superuser", "is_staff",
             "department_id", "id", "number", "created_at")


BOOKKEEPING = set(oracle.load_raw().get("bookkeeping_tables", []))


def _snapshot() -> dict:
    """Every row of every business table (small world), as plain values."""
    return {m._meta.label_lower: sorted(repr(sorted(model_to_dict(o).items())) for o in m._default_manager.all())
            for m in apps.get_models() if m._meta.managed and m._meta.label_lower not in BOOKKEEPING}


def _hostile(sw) -> dict:
    far, outsider = sw.grids["far"], sw.users["sysadmin"]
    values = {"grid_id": far.pk, "region_id": far.region_id, "scope_path": far.path, "role": "system_admin",
              "status": "closed", "is_open": False, "owner_id": outsider.pk, "owner_user_id": outsider.pk,
              "owner_region_id": far.region_id, "owner_department_id": sw.world.depts["zf2"].pk,
              "assignee_id": outsider.pk, "reporter_id": outsider.pk, "is_superuser": True, "is_staff": True,
              "department_id": sw.world.depts["zf2"].pk, "id": 1, "number": "350502-20260101-99999",
              "created_at": "2020-01-01T00:00:00Z"}
    assert set(values) == set(PROTECTED)
    return values


def test_protected_fields_are_refused_and_nothing_changes(sw):
    bodies = {re.sub(r"\{(\w+)\}", r"<\1>", e.path.removeprefix("/api")): e.body or {}
              for e in sw.policy.endpoints if e.method != "GET"}
    hostile = _hostile(sw)
    case = sw.cases["same_grid"]
    # The street dispatcher commands this case and works its early warning: only the protected
    # fields stand between the request and a real change. Every path parameter names a real
    # object the dispatcher may act on; an unknown parameter is an error here, not a probe "1".
    objects = {"number": case.number, "warning_id": str(sw.warnings["same_grid"].pk)}
    headers = sw.headers("dispatcher")
    unsafe = [(m, r) for m, r, _op in api_operations() if m not in SAFE_METHODS]
    client = Client()
    before = _snapshot()
    accepted, unnamed, calls = [], [], 0
    for method, route in unsafe:
        key = route.removeprefix("api").lstrip("/")
        body = {k: (v.format(number=case.number, grid=case.grid.code, same_grid_number=case.number) if isinstance(v, str) else v)
                for k, v in bodies.get("/" + key, {}).items()}
        body.update({k: v for k, v in hostile.items() if k not in body})
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: objects[m.group(1)], route)
        form = {k: json.dumps(v) if isinstance(v, bool) else v for k, v in body.items()}
        for response in (client.generic(method, path, json.dumps(body), content_type="application/json", headers=headers),
                         client.post(path, form, headers=headers)):
            calls += 1
            if not 400 <= response.status_code < 500:
                accepted.append(f"{method} {route} → {response.status_code}")
                continue
            named = {f["field"] for f in response.json()["error"]["details"].get("fields", [])}
            if not named & set(PROTECTED):
                unnamed.append(f"{method} {route} → {response.status_code} {response.content[:200]!r}")
    after = _snapshot()
    changed = [table for table in before if before[table] != after[table]]
    print(f"\nR9 mass assignment: {len(unsafe)} unsafe operations × JSON and form = {calls} requests with "
          f"{len(PROTECTED)} protected fields each; accepted={len(accepted)}; tables changed={changed or 'none'}")
    assert not accepted, accepted
    assert not unnamed, unnamed
    assert not changed, changed
