import io
import json

import pytest
import shapely
from shapely.geometry import mapping, shape

from gridgov.errors import Conflict, InvalidInput, NotFound
from gridgov.places import services
from gridgov.places.models import Grid, MicroGrid, SpatialIndexState
from gridgov.privacy.models import AuditRecord

from .conftest import BOX_A, BOX_B, collection, feature, grid_collection, voronoi


def version() -> int:
    return SpatialIndexState.objects.order_by("-version").values_list("version", flat=True).first() or 0


def nothing_written(before_grids: int = 0, before_micro: int = 0):
    assert Grid.objects.count() == before_grids and MicroGrid.objects.count() == before_micro


# ---- importing ------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_coded_grids_and_micro_grids(territory):
    summary = services.import_grids(grid_collection())
    assert summary["grids_created"] == 7 and summary["micro_grids_created"] == 2
    assert summary["communities"] == 2 and summary["index_version"] == version() >= 1
    grid = Grid.objects.get(code="350502001001003")
    assert grid.region == territory.a and grid.households == 330 and grid.kind == "community"
    assert grid.path == territory.a.path + "350502001001003."
    assert (grid.min_lon, grid.min_lat) >= (BOX_A[0] - 1e-9, BOX_A[1] - 1e-9) and grid.max_lon <= BOX_A[2] + 1e-9
    micro = MicroGrid.objects.get(code="350502001001001002")
    assert micro.grid.code == "350502001001001" and micro.path == micro.grid.path + micro.code + "."
    assert AuditRecord.objects.filter(action="places.import_grids").count() == 1


@pytest.mark.django_db
def test_import_is_idempotent_and_updates(territory):
    services.import_grids(grid_collection())
    v = version()
    again = services.import_grids(grid_collection())
    assert again["grids_created"] == 0 and again["grids_updated"] == 0 and again["grids_unchanged"] == 7
    assert Grid.objects.count() == 7 and MicroGrid.objects.count() == 2 and version() == v + 1
    data = grid_collection()
    data["features"][0]["properties"].update(name="金山一网格", households=512, kind="special", special_type="学校")
    changed = services.import_grids(data)
    assert changed["grids_updated"] == 1
    grid = Grid.objects.get(code="350502001001001")
    assert (grid.name, grid.households, grid.kind, grid.special_type) == ("金山一网格", 512, "special", "学校")
    assert not grid.households_in_target


@pytest.mark.django_db
def test_sources_path_text_and_file_objects(territory, tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(grid_collection(), ensure_ascii=False), encoding="utf-8")
    assert services.import_grids(path)["grids_created"] == 7
    assert services.import_grids(str(path))["grids_unchanged"] == 7
    assert services.import_grids(path.read_text(encoding="utf-8"))["grids_unchanged"] == 7
    assert services.import_grids(io.BytesIO(path.read_bytes()))["grids_unchanged"] == 7


@pytest.mark.django_db
def test_community_and_name_get_sequences_west_to_east_north_to_south(territory):
    # a 3 × 2 block of squares, given in a shuffled order
    x0, y0, x1, y1 = BOX_A
    w, h = (x1 - x0) / 3, (y1 - y0) / 2
    cells = {(r, c): shapely.box(x0 + c * w, y1 - (r + 1) * h, x0 + (c + 1) * w, y1 - r * h) for r in range(2) for c in range(3)}
    order = [(1, 2), (0, 1), (1, 0), (0, 0), (0, 2), (1, 1)]
    features = [feature(cells[rc], community_code=territory.a.code, name=f"格{rc[0]}{rc[1]}") for rc in order]
    summary = services.import_grids(collection(features))
    assert summary["codes_assigned"] == {
        "格00": "350502001001001", "格01": "350502001001002", "格02": "350502001001003",
        "格10": "350502001001004", "格11": "350502001001005", "格12": "350502001001006",
    }
    # a second import by name keeps the codes; a new grid gets the next sequence
    features.append(feature(shapely.box(x0, y0 - 0.001, x0 + w, y0), community_code=territory.bare.code, name="新格"))
    again = services.import_grids(collection(features))
    assert again["grids_created"] == 1 and again["codes_assigned"] == {"新格": "350502001003001"}


@pytest.mark.django_db
def test_sequence_width_comes_from_settings(territory, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "GRID_SEQUENCE_WIDTH": 2}
    cell = shapely.box(118.50, 24.90, 118.51, 24.91)
    summary = services.import_grids(collection([feature(cell, community_code=territory.a.code, name="一")]))
    assert summary["codes_assigned"] == {"一": "35050200100101"}
    with pytest.raises(InvalidInput):
        services.import_grids(collection([feature(cell, code="350502001001001", name="一")]))


@pytest.mark.django_db
def test_reading_order_helper():
    squares = [shapely.box(c, -r, c + 1, -r + 1) for r, c in [(0, 2), (1, 0), (0, 0), (1, 1), (0, 1)]]
    assert services.reading_order(squares) == [2, 4, 0, 1, 3]
    assert services.reading_order([]) == []


@pytest.mark.django_db
def test_number_grids_renumbers_a_community_and_its_micro_grids(grids):
    community = grids.a
    # scramble: swap the codes of grids 1 and 4 (through a temporary code)
    g1, g4 = Grid.objects.get(code="350502001001001"), Grid.objects.get(code="350502001001004")
    geometry1, geometry4 = g1.geometry, g4.geometry
    g1.geometry, g4.geometry = geometry4, geometry1
    g1.save(), g4.save()
    expected = [Grid.objects.get(code=f"350502001001{i:03d}").geometry for i in range(1, 5)]
    order = services.reading_order([shape(g) for g in expected])
    v = version()
    pairs = services.number_grids(community)
    assert version() == v + 1
    assert pairs and {new for _, new in pairs} <= {f"350502001001{i:03d}" for i in range(1, 5)}
    for n, i in enumerate(order, start=1):
        assert Grid.objects.get(code=f"350502001001{n:03d}").geometry == expected[i]
    for micro in MicroGrid.objects.select_related("grid"):
        assert micro.code.startswith(micro.grid.code) and micro.path == micro.grid.path + micro.code + "."
    assert services.number_grids(community) == []  # numbered already
    assert AuditRecord.objects.filter(action="places.number_grids").count() == 1


@pytest.mark.django_db
def test_number_grids_refuses_non_communities(grids):
    with pytest.raises(InvalidInput):
        services.number_grids(grids.street)
    with pytest.raises(NotFound):
        services.number_grids("350502009009")
    assert isinstance(services.number_grids(grids.a.code), list)  # by code too


# ---- refusals: nothing is written and the grid is named ----------------------------------


def one_bad(territory, geom=None, **props):
    """The good collection plus one more feature."""
    data = grid_collection()
    props = {"code": "350502001003001", "name": "坏网格", **props}
    data["features"].append(feature(geom if geom is not None else shapely.box(118.6, 24.9, 118.61, 24.91), **props))
    return data


BOWTIE = {"type": "Polygon", "coordinates": [[[118.6, 24.9], [118.61, 24.91], [118.61, 24.9], [118.6, 24.91], [118.6, 24.9]]]}


@pytest.mark.django_db
@pytest.mark.parametrize("geom,props,problem", [
    (BOWTIE, {}, "边界无效"),
    ({"type": "Point", "coordinates": [118.6, 24.9]}, {}, "Polygon"),
    ({"type": "Polygon", "coordinates": [[[1, 2]]]}, {}, "几何"),
    ({"type": "Polygon", "coordinates": [[[218.6, 24.9], [218.61, 24.9], [218.61, 24.91], [218.6, 24.9]]]}, {}, "经纬度范围"),
    ("missing", {}, "几何类型"),
    (None, {"code": "35050200100300"}, "网格编码"),
    (None, {"code": "3505020010030a1"}, "网格编码"),
    (None, {"code": "350502001003000"}, "网格编码"),
    (None, {"code": None, "community_code": "3505"}, "社区代码"),
    (None, {"community_code": "350502001002"}, "不一致"),
    (None, {"name": ""}, "名称"),
    (None, {"kind": "castle"}, "网格类型"),
    (None, {"households": -3}, "户数"),
    (None, {"households": "many"}, "户数"),
    (None, {"code": "350502001009001"}, "不存在"),
    (None, {"code": "350502001001001"}, "重复"),
    (None, {"grid_code": "350502001001001", "code": "350502001001002001"}, "微网格编码"),
    (None, {"grid_code": "350502001001009", "code": "350502001001009001"}, "所属网格"),
])
def test_bad_features_refuse_the_whole_import(territory, geom, props, problem):
    if geom == "missing":
        data = one_bad(territory, **props)
        del data["features"][-1]["geometry"]
    else:
        data = one_bad(territory, geom, **props)
    with pytest.raises(InvalidInput) as err:
        services.import_grids(data)
    assert problem in err.value.message_zh, err.value.message_zh
    assert err.value.details["errors"][0].get("grid")
    nothing_written()
    assert not AuditRecord.objects.exists()


@pytest.mark.django_db
def test_overlapping_siblings_are_refused_and_named(territory):
    data = grid_collection()
    cells = voronoi(BOX_B, 3, 2)
    grown = shapely.buffer(cells[0], 0.0005).intersection(shapely.box(*BOX_B))
    data["features"][4]["geometry"] = mapping(grown)  # 笋浯 grid 1 reaches into grids 2 and 3
    with pytest.raises(InvalidInput) as err:
        services.import_grids(data)
    assert err.value.code == "grid_invalid"
    assert "350502001002001" in err.value.message_zh and "重叠" in err.value.message_zh
    nothing_written()


@pytest.mark.django_db
def test_overlap_with_an_existing_grid_is_refused(grids):
    cell = shapely.box(BOX_A[0], BOX_A[1], BOX_A[0] + 0.002, BOX_A[1] + 0.002)
    with pytest.raises(InvalidInput) as err:
        services.import_grids(collection([feature(cell, code="350502001001009", name="压线")]))
    assert "重叠" in err.value.message_zh
    nothing_written(7, 2)


@pytest.mark.django_db
def test_tiny_overlaps_and_overhangs_are_tolerated(territory):
    data = grid_collection()
    # shared borders digitised a few centimetres apart still import
    nudged = shapely.affinity.translate(shape(data["features"][0]["geometry"]), 2e-7, 0)
    data["features"][0]["geometry"] = mapping(nudged)
    assert services.import_grids(data)["grids_created"] == 7


@pytest.mark.django_db
def test_grid_outside_its_community_is_refused(territory):
    data = grid_collection()
    data["features"].append(feature(shapely.box(118.53, 24.90, 118.545, 24.905), code="350502001002009", name="越界"))
    with pytest.raises(InvalidInput) as err:
        services.import_grids(data)
    assert "350502001002009" in err.value.message_zh and "超出" in err.value.message_zh
    nothing_written()


@pytest.mark.django_db
def test_community_without_boundary_accepts_any_grid(territory):
    far = shapely.box(118.7, 25.0, 118.71, 25.01)
    assert services.import_grids(collection([feature(far, code="350502001003001", name="远")]))["grids_created"] == 1


@pytest.mark.django_db
def test_micro_grids_must_lie_in_their_grid_and_not_overlap(grids):
    grid = shape(Grid.objects.get(code="350502001001002").geometry)
    inside = shapely.buffer(grid.centroid, 0.0003).intersection(grid)
    outside = shapely.buffer(grid.centroid, 0.02)
    ok = feature(inside, grid_code="350502001001002", code="350502001001002001", name="1号楼")
    assert services.import_grids(collection([ok]))["micro_grids_created"] == 1
    with pytest.raises(InvalidInput) as err:
        services.import_grids(collection([feature(outside, grid_code="350502001001002", code="350502001001002002", name="2号楼")]))
    assert "超出" in err.value.message_zh
    with pytest.raises(InvalidInput) as err:
        services.import_grids(collection([feature(inside, grid_code="350502001001002", code="350502001001002003", name="3号楼")]))
    assert "重叠" in err.value.message_zh and "350502001001002001" in err.value.message_zh
    assert MicroGrid.objects.count() == 3


@pytest.mark.django_db
def test_not_geojson_is_refused(territory, tmp_path):
    for bad in ["{not json", json.dumps({"type": "Feature"}), json.dumps({"type": "FeatureCollection", "features": []}),
                json.dumps({"type": "FeatureCollection", "features": [42]}), tmp_path / "absent.geojson", "absent.geojson"]:
        with pytest.raises(InvalidInput):
            services.import_grids(bad)
    nothing_written()


# ---- replace, deletion, the index version ----------------------------------------------


@pytest.mark.django_db
def test_replace_deletes_grids_missing_from_the_file(grids):
    data = grid_collection()
    data["features"] = [f for f in data["features"] if f["properties"]["code"] not in ("350502001002003", "350502001001001002")]
    summary = services.import_grids(data, replace=True)
    assert summary["grids_deleted"] == 1 and summary["micro_grids_deleted"] == 1
    assert not Grid.objects.filter(code="350502001002003").exists()
    assert MicroGrid.objects.count() == 1
    # without replace nothing is deleted
    services.import_grids(grid_collection())
    assert services.import_grids(data)["grids_deleted"] == 0 and Grid.objects.count() == 7


@pytest.mark.django_db
def test_replace_refuses_to_delete_a_grid_with_cases(grids):
    from django.utils import timezone

    from gridgov.cases.models import Case

    grid = Grid.objects.get(code="350502001002003")
    Case.objects.create(number="T-1", channel="patrol", title="井盖缺失", region=grid.region, owner_region=grids.street,
                        grid=grid, reported_at=timezone.now())
    data = grid_collection()
    data["features"] = [f for f in data["features"] if f["properties"]["code"] != "350502001002003"]
    with pytest.raises(Conflict) as err:
        services.import_grids(data, replace=True)
    assert "350502001002003" in err.value.message_zh
    assert Grid.objects.filter(code="350502001002003").exists()


@pytest.mark.django_db
def test_admin_style_edits_bump_the_version_through_signals(grids):
    v = version()
    grid = Grid.objects.get(code="350502001001001")
    grid.name = "改名"
    grid.save()
    assert version() == v + 1
    MicroGrid.objects.filter(grid=grid).first().delete()
    assert version() == v + 2
    grids.a.name = "金山"
    grids.a.save()
    assert version() == v + 3


@pytest.mark.django_db
def test_bump_creates_the_state_row():
    assert not SpatialIndexState.objects.exists()
    assert services.bump_index_version() == 1
    assert services.bump_index_version() == 2


# ---- export -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_round_trips_through_import(grids):
    exported = services.export_grids()
    assert exported["type"] == "FeatureCollection" and len(exported["features"]) == 9
    first = exported["features"][0]
    assert first["properties"]["community_code"] == "350502001001" and first["properties"]["households_in_target"]
    again = services.import_grids(json.loads(json.dumps(exported)))
    assert again["grids_unchanged"] == 7 and again["micro_grids_created"] == 0 and again["micro_grids_updated"] == 0


@pytest.mark.django_db
def test_export_by_region(grids):
    assert len(services.export_grids(grids.b)["features"]) == 3
    assert len(services.export_grids("350502001001")["features"]) == 6
    assert len(services.export_grids("3505")["features"]) == 9
    assert services.export_grids(grids.bare)["features"] == []
    with pytest.raises(NotFound):
        services.export_grids("350502009")
    with pytest.raises(NotFound):
        services.export_grids("abc")


@pytest.mark.django_db
def test_visible_grids_follow_the_user_scope(users):
    u = users.users
    assert services.grids_visible_to(u["admin"]).count() == 7
    assert services.grids_visible_to(u["street"]).count() == 7
    assert set(services.grids_visible_to(u["community_b"]).values_list("code", flat=True)) == {
        "350502001002001", "350502001002002", "350502001002003"}
    assert list(services.grids_visible_to(u["worker"]).values_list("code", flat=True)) == ["350502001001002"]
    assert services.grids_visible_to(u["nobody"]).count() == 0
    assert services.grids_visible_to(None).count() == 0


@pytest.mark.django_db
def test_reimport_query_count_does_not_grow_with_grids(territory, django_assert_max_num_queries):
    services.import_grids(grid_collection(n_a=4, n_b=3))
    with django_assert_max_num_queries(25):
        services.import_grids(grid_collection(n_a=4, n_b=3))
    big = grid_collection(n_a=30, n_b=30)
    services.import_grids(big, replace=True)
    with django_assert_max_num_queries(25):
        services.import_grids(big)
