"""The security harness's world: build_world() plus what the oracle's object scopes need (a
grid leader, a non-superuser system administrator, a second district), and one case per
object scope of policy.yaml, each carrying its own canary."""

from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from gridgov.accounts.models import Role
from gridgov.accounts.services import issue_token
from gridgov.cases import services as case_services
from gridgov.cases.models import Case
from gridgov.insight.models import EarlyWarning, Severity, WarningRule
from gridgov.places.models import Grid, Region, RegionLevel
from gridgov.privacy.models import AuditRecord
from tests.api.conftest import as_user, error_of, w  # noqa: F401  (the API's fixtures, reused)
from tests.factories import box, build_world, make_user, photo

from . import oracle
from .canary import Canary, LeakScanner

STATUS_STEPS = {"reported": [], "accepted": ["accept"], "dispatched": ["accept", "dispatch"],
                "returned": ["accept", "dispatch", "return"]}


@dataclass
class SecurityWorld:
    world: object
    policy: oracle.Policy
    users: dict
    grids: dict
    cases: dict = field(default_factory=dict)       # object name → Case
    canaries: dict = field(default_factory=dict)    # object name → Canary
    warnings: dict = field(default_factory=dict)    # object name → its EarlyWarning (scoped to its grid)
    photos: dict = field(default_factory=dict)      # object name → its CasePhoto
    audit_id: int = 0                               # an audit record for the auditor's API
    tokens: dict = field(default_factory=dict)      # username → bearer token

    def token(self, username: str) -> str:
        if username not in self.tokens:
            self.tokens[username] = issue_token(actor=None, user=self.users[username], name="security")[1]
        return self.tokens[username]

    def headers(self, username: str) -> dict:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def placeholders(self, name: str) -> dict:
        case = self.cases[name]
        grid = case.grid
        others = {f"{other}_number": c.number for other, c in self.cases.items()}
        return {**others, "number": case.number, "warning_id": self.warnings[name].pk, "photo_id": self.photos[name].pk,
                "phone": self.canaries[name].phone, "audit_id": self.audit_id, "grid": grid.code, "region": grid.region.code, "status": case.status,
                "lat": case.lat, "lon": case.lon, "canary": self.canaries[name].token}


def _centre(grid: Grid) -> tuple[float, float]:
    ring = grid.geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2


def build_security_world(policy: oracle.Policy | None = None) -> SecurityWorld:
    policy = policy or oracle.load()
    world = build_world()
    users = dict(world.users)
    users["grid_leader"] = make_user("grid_leader", Role.GRID_LEADER, region=world.community, grid=world.grids[0])
    users["sysadmin"] = make_user("sysadmin", Role.SYSTEM_ADMIN)
    district2 = Region.objects.create(code="350503", name="丰泽区", level=RegionLevel.DISTRICT, parent=world.city)
    street3 = Region.objects.create(code="350503001", name="东湖街道", level=RegionLevel.STREET, parent=district2)
    community3 = Region.objects.create(code="350503001001", name="东湖社区", level=RegionLevel.COMMUNITY, parent=street3,
                                       geometry=box(118.60, 24.90, 118.62, 24.92))
    far = Grid.objects.create(code="350503001001001", name="东湖社区第1网格", region=community3,
                              geometry=box(118.60, 24.90, 118.61, 24.92), households=300)
    grids = {"g0": world.grids[0], "g1": world.grids[1], "g2": world.grids[2], "g3": world.grids[3], "far": far}
    sw = SecurityWorld(world=world, policy=policy, users=users, grids=grids)
    rule = WarningRule.objects.order_by("code").first()
    system = users["admin"]
    for name, spec in policy.objects.items():
        canary = Canary.make()
        grid = grids[spec["grid"]]
        lat, lon = _centre(grid)
        reporter = users[spec["reporter"]] if spec.get("reporter") else None
        case = case_services.report_case(
            actor=reporter, channel="resident" if reporter else "hotline", title=f"矩阵案件 {name}",
            description=f"描述 D{canary.token} 门口堆放垃圾", category=world.cats["litter"], lat=lat, lon=lon, grid=grid,
            address=f"{grid.region.name}A{canary.token}号", reporter_name=f"甲{canary.token}", reporter_phone=canary.phone,
            public_anonymous=False, photos=[photo(f"{name}.jpg")],
        )
        for step in STATUS_STEPS[spec["status"]]:
            if step == "accept":
                case_services.accept_case(actor=system, case=case)
            elif step == "dispatch":
                case_services.dispatch_case(actor=system, case=case, department=world.depts[spec["department"]])
            elif step == "return":
                handler = next(u for u in users.values() if u.department_id == world.depts[spec["department"]].pk)
                case_services.return_case(actor=handler, case=case, reason="非本部门职责", responsible_party="其他单位")
        case = Case.objects.select_related("grid__region").get(pk=case.pk)
        assert case.status == spec["status"], (name, case.status)
        sw.cases[name] = case
        sw.canaries[name] = canary
        sw.photos[name] = case.photos.get()
        # An open early warning about this object's grid, owned by its community; the canary in
        # its title shows whether it reaches a role that must not see it.
        sw.warnings[name] = EarlyWarning.objects.create(
            rule=rule, kind=rule.kind, subject_key=f"matrix:{name}", severity=Severity.HIGH, title=f"预警 W{canary.token}",
            evidence={"case": case.number}, region=grid.region, grid=grid, category=world.cats["litter"],
            scope_path=grid.path, owner_region=grid.region, raised_at=timezone.now(), last_seen_at=timezone.now(),
        )
    sw.audit_id = AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first()
    return sw


@pytest.fixture
def policy():
    return oracle.load()


@pytest.fixture
def sw(db, policy):
    return build_security_world(policy)


@pytest.fixture
def leak_scanner(sw, monkeypatch):
    """Scans every test-client response (per acting role) and every log record for canaries."""
    forbidden = {
        role.name: {obj: sw.canaries[obj] for obj in sw.policy.objects
                    if obj not in role.sees and not sw.policy.is_known_leak(role.name, obj)}
        for role in sw.policy.roles.values()
    }
    scanner = LeakScanner(canaries=sw.canaries, forbidden=forbidden)
    scanner.install(monkeypatch)
    yield scanner
    scanner.uninstall()
