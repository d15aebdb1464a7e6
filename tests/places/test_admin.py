import pytest
from django.test import Client

from gridgov.places.models import Grid, MicroGrid, Region, SpatialIndexState
from gridgov.privacy.models import AuditRecord
from tests.factories import verified_login


@pytest.fixture
def admin_client_(users):
    client = Client()
    verified_login(client, users.users["admin"])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["region", "grid", "microgrid"])
def test_lists_and_forms_render_in_chinese(admin_client_, path):
    r = admin_client_.get(f"/admin/places/{path}/")
    assert r.status_code == 200
    text = r.content.decode()
    assert {"region": "行政区划", "grid": "目标户数", "microgrid": "微网格"}[path] in text
    obj = {"region": Region, "grid": Grid, "microgrid": MicroGrid}[path].objects.first()
    assert admin_client_.get(f"/admin/places/{path}/{obj.pk}/change/").status_code == 200
    assert admin_client_.get(f"/admin/places/{path}/add/").status_code == 200


@pytest.mark.django_db
def test_grid_list_shows_households_and_target_band(admin_client_):
    text = admin_client_.get("/admin/places/grid/").content.decode()
    assert "300–500" in text and "户数达标" in text and "330" in text


def grid_form(grid, **changes):
    data = {
        "code": grid.code, "name": grid.name, "region": grid.region_id, "kind": grid.kind, "special_type": "",
        "households": grid.households, "target_min_households": 300, "target_max_households": 500,
        "geometry": __import__("json").dumps(grid.geometry),
        "micro_grids-TOTAL_FORMS": 0, "micro_grids-INITIAL_FORMS": 0, "micro_grids-MIN_NUM_FORMS": 0,
        "micro_grids-MAX_NUM_FORMS": 1000,
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_editing_a_grid_goes_through_the_service(admin_client_, users):
    grid = Grid.objects.get(code="350502001002001")
    version = SpatialIndexState.objects.get().version
    r = admin_client_.post(f"/admin/places/grid/{grid.pk}/change/", grid_form(grid, name="改名网格", households=420))
    assert r.status_code == 302, r.content.decode()[:2000]
    grid.refresh_from_db()
    assert grid.name == "改名网格" and grid.households == 420
    assert SpatialIndexState.objects.get().version == version + 1
    assert AuditRecord.objects.filter(action="places.grid.update", object_id=str(grid.pk)).exists()


@pytest.mark.django_db
def test_an_invalid_boundary_is_a_form_error(admin_client_):
    grid = Grid.objects.get(code="350502001002001")
    bowtie = '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}'
    r = admin_client_.post(f"/admin/places/grid/{grid.pk}/change/", grid_form(grid, geometry=bowtie))
    assert r.status_code == 200 and "边界无效" in r.content.decode()
    grid.refresh_from_db()
    assert grid.geometry["coordinates"][0][0] != [0, 0]


@pytest.mark.django_db
def test_moving_a_grid_to_another_community_moves_its_micro_grids(users):
    from gridgov.places import services

    grid = Grid.objects.get(code="350502001001001")
    grid.region = users.bare
    services.save_territory(grid, actor=users.users["admin"])
    for micro in MicroGrid.objects.filter(grid=grid):
        assert micro.path == users.bare.path + grid.code + "." + micro.code + "."


@pytest.mark.django_db
def test_deleting_in_the_admin(admin_client_):
    micro = MicroGrid.objects.first()
    r = admin_client_.post(f"/admin/places/microgrid/{micro.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not MicroGrid.objects.filter(pk=micro.pk).exists()
    assert AuditRecord.objects.filter(action="places.microgrid.delete").exists()
