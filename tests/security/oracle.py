"""Read policy.yaml and say what it expects for one (role, endpoint, object) cell.

The decision rules here are generic and short on purpose: everything particular to a role,
an endpoint or an object lives in the YAML, which people review. `expect()` never looks at
the code under test.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

POLICY_PATH = Path(__file__).with_name("policy.yaml")

OBJECT_KINDS = {"object_read", "transition", "list_member", "list_exact", "count_exact", "grid_read", "grid_member", "grid_locate"}
ROLE_KINDS = {"role"}
GUARD_LISTS = {"commands", "handles", "territory", "reports"}


@dataclass(frozen=True)
class Role:
    name: str
    user: str
    sees: frozenset
    grids_of: frozenset
    actions: frozenset
    may: frozenset
    guards: dict = field(hash=False, compare=False)
    warnings: frozenset = frozenset()

    def seen(self, endpoint: "Endpoint", obj: str) -> bool:
        """Does this role see the endpoint's object (the case, or the case's early warning)?"""
        return obj in (self.warnings if endpoint.on == "warning" else self.sees)


@dataclass(frozen=True)
class Endpoint:
    id: str
    kind: str
    path: str
    method: str = "GET"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    body: dict | None = field(default=None, hash=False, compare=False)
    action: str | None = None
    guard: tuple = ()
    denied: str = "403"
    files: tuple = ()
    on: str = "case"
    forbidden_code: str = "role_forbidden"


@dataclass(frozen=True)
class Policy:
    version: int
    objects: dict
    roles: dict
    endpoints: list
    known_leaks: dict = field(default_factory=dict)   # (role, object) → why

    def is_known_leak(self, role: str, obj: str | None) -> bool:
        return (role, obj) in self.known_leaks

    @property
    def object_endpoints(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.kind in OBJECT_KINDS]

    @property
    def role_endpoints(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.kind in ROLE_KINDS]


def load_raw(path: Path = POLICY_PATH) -> dict:
    """The policy file as plain data (for the keys the matrix does not use)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load(path: Path = POLICY_PATH) -> Policy:
    """The policy, checked for internal consistency (unknown names are errors, not denials)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    objects = raw["objects"]
    endpoints = []
    for e in raw["endpoints"]:
        kind = e["kind"]
        if kind not in OBJECT_KINDS | ROLE_KINDS:
            raise ValueError(f"endpoint {e['id']}: unknown kind {kind}")
        method = e.get("method", "POST" if kind == "transition" else "GET")
        guard = tuple(e.get("guard", ()))
        if set(guard) - GUARD_LISTS:
            raise ValueError(f"endpoint {e['id']}: unknown guard {guard}")
        if kind == "transition" and not e.get("action"):
            raise ValueError(f"endpoint {e['id']}: a transition names its action")
        endpoints.append(Endpoint(id=e["id"], kind=kind, path=e["path"], method=method, params=e.get("params", {}),
                                  body=e.get("body"), action=e.get("action"), guard=guard, denied=str(e.get("denied", "403")),
                                  files=tuple(e.get("files", ())), on=e.get("family", "case"),
                                  forbidden_code=e.get("forbidden_code", "role_forbidden")))
        if endpoints[-1].on not in {"case", "warning"}:
            raise ValueError(f"endpoint {e['id']}: unknown object family {endpoints[-1].on}")
    ids = [e.id for e in endpoints]
    if len(ids) != len(set(ids)):
        raise ValueError("endpoint ids must be unique")
    role_endpoint_ids = {e.id for e in endpoints if e.kind in ROLE_KINDS}
    roles = {}
    for name, r in raw["roles"].items():
        lists = {key: frozenset(r.get(key, ())) for key in ("sees", "grids_of", "warnings", *GUARD_LISTS)}
        for key, values in lists.items():
            unknown = values - set(objects)
            if unknown:
                raise ValueError(f"role {name}.{key}: unknown objects {sorted(unknown)}")
        unknown = set(r.get("may", ())) - role_endpoint_ids
        if unknown:
            raise ValueError(f"role {name}.may: unknown endpoints {sorted(unknown)}")
        roles[name] = Role(name=name, user=r["user"], sees=lists["sees"], grids_of=lists["grids_of"],
                           actions=frozenset(r.get("actions", ())), may=frozenset(r.get("may", ())),
                           guards={key: lists[key] for key in GUARD_LISTS}, warnings=lists["warnings"])
    known = {}
    for entry in raw.get("known_leaks") or []:
        if entry["role"] not in roles or entry["object"] not in objects:
            raise ValueError(f"known_leaks: unknown role or object in {entry}")
        known[(entry["role"], entry["object"])] = " ".join(entry["why"].split())
    return Policy(version=raw["version"], objects=objects, roles=roles, endpoints=endpoints, known_leaks=known)


# Expected outcomes of one cell.
HIDDEN = "hidden"          # 404, the object does not exist for this role
FORBIDDEN = "forbidden"    # 403, the role lacks the action (or the role-level endpoint)
GUARDED = "guarded"        # 403 or 409: the action's business guard refuses this object
PERMITTED = "permitted"    # 2xx, or 409 when the object's state does not allow the action now
VISIBLE = "visible"        # read endpoints: 200 and the object (or its grid) is present
ABSENT = "absent"          # list endpoints: 200 and the object is not present
EMPTY = "empty"            # role endpoints with `denied: empty`: 200 and an empty list


def expect(policy: Policy, role: Role, endpoint: Endpoint, obj: str | None) -> str:
    """The oracle's answer for one cell."""
    kind = endpoint.kind
    if kind == "role":
        if endpoint.id in role.may:
            return PERMITTED
        return EMPTY if endpoint.denied == "empty" else FORBIDDEN
    seen = role.seen(endpoint, obj)
    lacks = endpoint.action is not None and endpoint.action not in role.actions
    if kind == "object_read":
        # Scope first (404 says nothing about the role), then the role's right.
        return HIDDEN if not seen else FORBIDDEN if lacks else VISIBLE
    if kind in {"list_member", "list_exact", "count_exact"}:
        # A list the role may not use at all is refused whatever it would hold.
        return FORBIDDEN if lacks else VISIBLE if seen else ABSENT
    if kind == "grid_read":
        return VISIBLE if obj in role.grids_of else HIDDEN
    if kind in {"grid_member", "grid_locate"}:
        return VISIBLE if obj in role.grids_of else ABSENT
    # transition
    if not seen:
        return HIDDEN
    if endpoint.action not in role.actions:
        return FORBIDDEN
    if endpoint.guard and not any(obj in role.guards[g] for g in endpoint.guard):
        return GUARDED
    return PERMITTED
