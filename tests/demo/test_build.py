"""The small demo city in the database: territory, organisation, people and a case
history driven through the case loop."""

import hashlib
import json

import pytest
import shapely
from django.contrib.auth.password_validation import validate_password
from django.db.models import F
from django.utils import timezone
from shapely.geometry import shape

from gridgov.accounts.models import Role, User
from gridgov.cases import routing, sla
from gridgov.cases.choices import SlaState, Status
from gridgov.cases.models import Assignment, Case, Category, Department, ExtensionRequest, TimelineEntry
from gridgov.demo import geography
from gridgov.demo.categories import leaf_categories, seed_categories
from gridgov.demo.people import DEMO_PASSWORD
from gridgov.places.locate import locate_many
from gridgov.places.models import Grid, MicroGrid, Region, RegionLevel
from gridgov.privacy.models import AuditRecord

from .conftest import CASES, SEED

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
REL_TOL = 1e-9


def test_builds_every_level(demo):
    counts = {level: Region.objects.filter(level=level).count() for level in RegionLevel.values}
    assert counts == {"province": 0, "city": 1, "district": 2, "street": 6, "community": 24}
    assert demo.counts["grids"] == Grid.objects.count() > 24
    assert MicroGrid.objects.exists() and Grid.objects.filter(kind="special").exists()
    assert not Region.objects.filter(geometry__isnull=True).exists()
    assert all(Region.objects.filter(level=RegionLevel.COMMUNITY, pk=r.pk, grids__isnull=False).exists()
               for r in Region.objects.filter(level=RegionLevel.COMMUNITY))
    assert demo.failures == []


def test_stored_geometry_matches_the_plan_and_nests(demo):
    plan = geography.generate("small", SEED)
    stored = {g.code: g.geometry for g in Grid.objects.all()}
    for node in plan.walk():
        for grid in node.grids:
            assert stored[grid.code] == geography.geojson(grid.geometry)
    for grid in Grid.objects.select_related("region"):
        polygon, community = shape(grid.geometry), shape(grid.region.geometry)
        assert polygon.is_valid and shapely.difference(polygon, community).area <= REL_TOL * polygon.area
        assert grid.path == f"{grid.region.path}{grid.code}." and grid.min_lon < grid.max_lon
        assert len(grid.code) == 15 and grid.code.startswith(grid.region.code)
    for micro in MicroGrid.objects.select_related("grid"):
        assert shape(micro.grid.geometry).contains(shape(micro.geometry)) and micro.code.startswith(micro.grid.code)
    for region in Region.objects.exclude(level=RegionLevel.CITY):
        assert shapely.contains_xy(shape(region.geometry), region.centroid_lon, region.centroid_lat)


def test_siblings_do_not_overlap(demo):
    for community in Region.objects.filter(level=RegionLevel.COMMUNITY):
        polygons = [shape(g.geometry) for g in community.grids.all()]
        tree = shapely.STRtree(polygons)
        for i, j in zip(*tree.query(polygons, predicate="intersects")):
            if i < j:
                assert shapely.intersection(polygons[i], polygons[j]).area <= REL_TOL * min(polygons[i].area, polygons[j].area)


def test_departments_matrix_and_categories(demo):
    assert Department.objects.filter(region__level=RegionLevel.DISTRICT, name="城管局").count() == 2
    assert Department.objects.filter(region__code="350502", name="公安分局").exists()
    assert Department.objects.filter(region__level=RegionLevel.STREET, name="综合执法队").count() == 6
    assert routing.matrix_gaps() == []
    assert {"H01", "H15", "H14", "H11", "H04", "H12", "H06", "E01", "E06", "P01"} <= set(Category.objects.values_list("code", flat=True))
    community = Region.objects.filter(level=RegionLevel.COMMUNITY).first()
    for category in leaf_categories():
        for level in routing.MATRIX_LEVELS:
            assert routing.suggest_department(category=category, case_region=community, level=level).department is not None, (category, level)
    assert seed_categories()["created"] == 0  # idempotent


def test_every_role_has_a_user_and_the_logins_work(demo, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    assert {r for r in Role.values if User.objects.filter(role=r).exists()} == set(Role.values)
    usernames = [row[0] for row in demo.logins]
    assert {"resident", "grid_worker", "grid_leader", "community_staff", "street_dispatcher", "district_dispatcher",
            "city_dispatcher", "dept_handler", "leader", "auditor", "sysadmin", "secadmin"} <= set(usernames)
    for username in usernames:
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD)
        validate_password(DEMO_PASSWORD, User(username=username))  # the policy, not the history
        assert not user.must_change_password
    # 三员分立: the demo's administrators are staff, none of them a superuser.
    assert not User.objects.filter(is_superuser=True).exists()
    assert User.objects.get(username="sysadmin").role == Role.SYSTEM_ADMIN
    from django_otp.plugins.otp_totp.models import TOTPDevice
    assert TOTPDevice.objects.filter(user__username="city_dispatcher", confirmed=True).exists()
    assert demo.otp_secret and demo.otp_secret in demo.otp_uri
    assert User.objects.get(username="street_dispatcher").region.level == RegionLevel.STREET
    assert User.objects.get(username="district_dispatcher").region.level == RegionLevel.DISTRICT
    assert User.objects.get(username="city_dispatcher").region.level == RegionLevel.CITY
    assert User.objects.get(username="grid_worker").grid.kind != "special"
    assert User.objects.get(username="dept_handler").department.name == "综合执法队"
    assert Grid.objects.filter(users__role=Role.GRID_WORKER).distinct().count() == Grid.objects.count()


def test_every_state_and_side_path_is_present(demo):
    cases = Case.objects.all()
    assert CASES <= cases.count() <= CASES + 25
    assert set(cases.values_list("status", flat=True)) == set(Status.values)
    assert cases.filter(self_resolved=True, status=Status.CLOSED).exists()
    assert cases.filter(rework_count__gt=0, is_open=False).exists()
    assert cases.filter(escalation_count__gt=0).exists() and cases.filter(supervision_count__gt=0).exists()
    assert cases.filter(status=Status.MERGED, duplicate_of__isnull=False).exists()
    assert Assignment.objects.filter(returned_at__isnull=False).exists() and ExtensionRequest.objects.exists()
    open_states = set(cases.filter(is_open=True).values_list("sla_state", flat=True))
    assert {SlaState.NORMAL, SlaState.WARNING, SlaState.OVERDUE} <= open_states
    assert cases.filter(closed_on_time=False).exists() and cases.filter(closed_on_time=True).exists()
    assert cases.filter(status=Status.EVALUATED, evaluated_by_callback=True).exists()
    assert cases.filter(status=Status.EVALUATED, evaluated_by_callback=False, reporter__role=Role.RESIDENT).exists()
    assert cases.filter(grid__users__username="grid_worker").exists()
    # Dispatches follow the matrix, except the deliberate wrong ones that were returned.
    wrong = Assignment.objects.filter(department__isnull=False, followed_suggestion=False).count()
    assert wrong == Assignment.objects.filter(returned_at__isnull=False).count()


def test_cases_lie_inside_their_grid(demo):
    grids = {g.pk: g for g in Grid.objects.all()}
    cases = list(Case.objects.all())
    located = locate_many([c.lat for c in cases], [c.lon for c in cases])
    assert located.grid_ids.tolist() == [c.grid_id for c in cases]  # the locate engine agrees
    for case in cases:
        grid = grids[case.grid_id]
        assert case.lat is not None and shapely.contains_xy(shape(grid.geometry), case.lon, case.lat)
        assert case.scope_path == grid.path and case.region_id == grid.region_id
        assert case.title and case.description and case.address


def test_history_is_consistent_in_time(demo):
    now = timezone.now()
    cases = Case.objects.all()
    assert not cases.filter(accepted_at__lt=F("reported_at")).exists()
    assert not cases.filter(dispatched_at__lt=F("accepted_at")).exists()
    assert not cases.filter(handled_at__lt=F("dispatched_at")).exists()
    assert not cases.filter(closed_at__lt=F("reported_at")).exists()
    assert not cases.filter(evaluated_at__lt=F("closed_at")).exists()
    assert not cases.filter(reported_at__gt=now).exists() and not TimelineEntry.objects.filter(at__gt=now).exists()
    assert cases.filter(reported_at__lt=now - timezone.timedelta(days=60)).exists()
    for case in cases.filter(accepted_at__isnull=False, due_at__isnull=False).select_related("category"):
        entries = list(case.timeline.order_by("id").values_list("at", "action"))
        assert [at for at, _ in entries] == sorted(at for at, _ in entries)
        assert entries[0][1] == "report" and entries[0][0] == case.reported_at
        if case.extension_requests.filter(state="approved").exists() or case.reopen_count:
            continue
        amount, unit = case.category.limit_for(case.urgency)
        assert (case.due_at, case.warn_at) == sla.compute_deadlines(case.accepted_at, amount, unit)
    # Every step left its audit record at the step's own moment.
    audited = AuditRecord.objects.filter(action="case.accept")
    assert audited.count() == TimelineEntry.objects.filter(action="accept").count()
    accepts = {(e.case_id, e.at) for e in TimelineEntry.objects.filter(action="accept")}
    assert {(int(a.object_id), a.at) for a in audited} == accepts


def test_stored_territory_is_deterministic(demo):
    rows = Grid.objects.order_by("code").values_list("code", "geometry")
    digest = hashlib.sha256(json.dumps(list(rows), sort_keys=True).encode()).hexdigest()
    plan = geography.generate("small", SEED)
    again = [(g.code, geography.geojson(g.geometry)) for n in plan.walk() for g in n.grids]
    assert digest == hashlib.sha256(json.dumps(sorted(again), sort_keys=True).encode()).hexdigest()
