import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from gridgov.errors import InvalidInput
from gridgov.places import geo, locate, services
from gridgov.places.locate import GridIndex, LocateResult
from gridgov.places.models import Grid, MicroGrid, SpatialIndexState

from .conftest import BOX_A, collection, feature, voronoi

# ---- GridIndex: the same answers as GEOS, on purpose-built hard cases --------------------


def geos_answer(polys, xs, ys):
    """STRtree + covers, ties to the smaller polygon then the lower index."""
    polys = np.asarray(polys, dtype=object)
    result = np.full(len(xs), -1)
    if len(polys):
        pts, hit = shapely.STRtree(polys).query(shapely.points(xs, ys), predicate="intersects")
        order = np.lexsort((hit, shapely.area(polys)[hit], pts))
        pts, hit = pts[order], hit[order]
        first = np.r_[True, pts[1:] != pts[:-1]] if len(pts) else np.zeros(0, bool)
        result[pts[first]] = hit[first]
    return result


def assert_exact(polys, xs, ys, **options):
    index = GridIndex(polys, **options)
    expected = geos_answer(polys, xs, ys)
    got = index.locate_many(ys, xs)
    assert np.array_equal(got, expected), np.flatnonzero(got != expected)[:10]
    one = np.array([index.locate_one(y, x) for x, y in zip(xs[:3000], ys[:3000])])
    assert np.array_equal(one, expected[:3000])
    return index


rng = np.random.default_rng(7)
VORONOI = np.array(voronoi((118.0, 25.0, 118.2, 25.2), 600, 5), dtype=object)


def test_random_points_over_voronoi_grids():
    xs, ys = rng.uniform(117.99, 118.21, 50000), rng.uniform(24.99, 25.21, 50000)
    index = assert_exact(VORONOI, xs, ys)
    assert index.disjoint and 0 < index.edge_share < 1


def test_points_exactly_on_vertices_and_edges():
    vertices = shapely.get_coordinates(VORONOI)
    assert_exact(VORONOI, vertices[:, 0], vertices[:, 1])
    on_edges = shapely.get_coordinates(shapely.line_interpolate_point(shapely.boundary(VORONOI), 0.3, normalized=True))
    assert_exact(VORONOI, on_edges[:, 0], on_edges[:, 1])


def test_axis_aligned_squares_and_rounded_points():
    squares = [shapely.box(118 + i * 0.01, 25 + j * 0.01, 118.01 + i * 0.01, 25.01 + j * 0.01) for i in range(20) for j in range(15)]
    xs, ys = np.round(rng.uniform(117.99, 118.21, 40000), 3), np.round(rng.uniform(24.99, 25.16, 40000), 3)
    assert_exact(squares, xs, ys)
    assert_exact(squares, xs, ys, cells_per_polygon=1)  # coarse cells: most points cast rays
    assert_exact(squares, xs, ys, cells_per_polygon=400)


def test_snapped_vertices_and_points_on_the_same_lattice():
    snapped = shapely.set_precision(VORONOI, 1e-3)
    snapped = snapped[~shapely.is_empty(snapped)]
    xs, ys = np.round(rng.uniform(117.99, 118.21, 40000), 3), np.round(rng.uniform(24.99, 25.21, 40000), 3)
    assert_exact(snapped, xs, ys)


def test_holes_islands_multipolygons_and_gaps():
    donut = shapely.box(0, 0, 10, 10).difference(shapely.box(3, 3, 7, 7))
    island = shapely.box(4, 4, 6, 6)
    pair = shapely.MultiPolygon([shapely.box(11, 0, 12, 1), shapely.box(13, 0, 14, 1)])
    triangle = shapely.Polygon([(0, 10), (10, 10), (5, 15)])
    polys = [donut, island, pair, triangle]
    xs, ys = rng.uniform(-1, 15, 40000), rng.uniform(-1, 16, 40000)
    assert_exact(polys, xs, ys)
    assert_exact(polys, np.round(xs), np.round(ys))
    shrunk = shapely.buffer(VORONOI, -0.001)
    assert_exact(shrunk[~shapely.is_empty(shrunk)], rng.uniform(117.99, 118.21, 20000), rng.uniform(24.99, 25.21, 20000))


def test_overlapping_polygons_fall_back_to_geos_with_the_tie_rule():
    polys = [shapely.box(0, 0, 10, 10), shapely.box(5, 5, 15, 15), shapely.box(2, 2, 3, 3)]
    index = assert_exact(polys, rng.uniform(-1, 16, 20000), rng.uniform(-1, 16, 20000))
    assert not index.disjoint
    assert index.locate_one(2.5, 2.5) == 2  # the smaller one wins
    assert index.locate_one(7, 7) == 0  # equal areas: the lower index


def test_edges_that_do_not_match_vertex_for_vertex():
    densified = VORONOI.copy()
    densified[::2] = shapely.segmentize(densified[::2], 0.002)
    assert_exact(densified, rng.uniform(117.99, 118.21, 20000), rng.uniform(24.99, 25.21, 20000))


def test_empty_and_single_and_odd_inputs():
    empty = GridIndex([])
    assert empty.locate_one(25, 118) == -1 and list(empty.locate_many([25, 26], [118, 119])) == [-1, -1]
    one = GridIndex([shapely.box(0, 0, 1, 1)])
    assert one.locate_one(0.5, 0.5) == 0 and one.locate_one(2, 2) == -1
    assert list(one.locate_many([0.5, np.nan, 0.5], [0.5, 0.5, np.inf])) == [0, -1, -1]
    assert_exact([shapely.box(0, 0, 1e-7, 1e-7)], rng.uniform(0, 1e-7, 2000), rng.uniform(0, 1e-7, 2000))


# ---- locate(): the database-backed index ---------------------------------------------


@pytest.mark.django_db
def test_locate_finds_grid_micro_grid_and_ancestors(grids):
    micro = MicroGrid.objects.get(code="350502001001001001")
    point = shape(micro.geometry).representative_point()
    result = locate.locate(point.y, point.x)
    assert isinstance(result, LocateResult) and result.found and result.reason is None
    assert result.grid_code == "350502001001001" and result.grid_id == Grid.objects.get(code=result.grid_code).pk
    assert result.micro_grid.code == "350502001001001001"
    assert [(a.level, a.code) for a in result.ancestors] == [
        ("city", "350500"), ("district", "350502"), ("street", "350502001"), ("community", "350502001001")]
    assert result.as_dict()["ancestors"][0]["name"] == "泉州市"


@pytest.mark.django_db
def test_locate_every_grid_by_a_point_inside_it(grids):
    for grid in Grid.objects.all():
        p = shape(grid.geometry).representative_point()
        r = locate.locate(p.y, p.x)
        assert r.grid_code == grid.code and r.grid_name == grid.name


@pytest.mark.django_db
def test_point_outside_every_grid_is_a_result_not_an_error(grids):
    result = locate.locate(39.9, 116.4)
    assert not result.found and result.reason == locate.OUTSIDE_GRIDS and result.grid_code is None
    assert result.ancestors == [] and result.micro_grid is None


@pytest.mark.django_db
def test_no_grids_at_all(territory):
    assert locate.locate(24.91, 118.51).reason == locate.NO_GRIDS


@pytest.mark.django_db
def test_locate_in_gcj02_and_bd09(grids):
    p = shape(Grid.objects.get(code="350502001002002").geometry).representative_point()
    for crs in ("gcj02", "bd09"):
        lat, lon = geo.from_wgs84(p.y, p.x, crs)
        result = locate.locate(lat, lon, crs=crs)
        assert result.grid_code == "350502001002002"
        assert geo.haversine_m(result.lat, result.lon, p.y, p.x) < 0.01


@pytest.mark.django_db
@pytest.mark.parametrize("lat,lon,crs,code", [(95, 118, "wgs84", "coordinates_out_of_range"),
                                              (24.9, 118.5, "utm", "unknown_crs"),
                                              ("x", 118.5, "wgs84", "coordinates_not_numbers")])
def test_bad_input_is_invalid_input(grids, lat, lon, crs, code):
    with pytest.raises(InvalidInput) as err:
        locate.locate(lat, lon, crs=crs)
    assert err.value.code == code


@pytest.mark.django_db
def test_locate_many(grids):
    points = [shape(g.geometry).representative_point() for g in Grid.objects.order_by("code")]
    lats = [p.y for p in points] + [39.9]
    lons = [p.x for p in points] + [116.4]
    batch = locate.locate_many(lats, lons)
    assert len(batch) == 8 and list(batch.found) == [True] * 7 + [False]
    assert batch.grid_codes == sorted(Grid.objects.values_list("code", flat=True)) + [None]
    assert batch.grid_ids[-1] == -1 and batch.grid_ids[0] == Grid.objects.order_by("code").first().pk
    assert batch[0].ancestors and not batch[7].found and len(list(batch)) == 8
    gcj = geo.from_wgs84(np.array(lats[:7]), np.array(lons[:7]), "gcj02")
    assert locate.locate_many(*gcj, crs="gcj02").grid_codes == batch.grid_codes[:7]
    with pytest.raises(InvalidInput):
        locate.locate_many([24.9, 91], [118.5, 118.5])


@pytest.mark.django_db
def test_one_query_per_call_and_rebuild_when_the_version_changes(grids, django_assert_num_queries):
    inside = shape(Grid.objects.get(code="350502001001003").geometry).representative_point()
    locate.locate(inside.y, inside.x)
    with django_assert_num_queries(1):
        assert locate.locate(inside.y, inside.x).grid_code == "350502001001003"
    # another process edits the grid and bumps the version: this process notices
    Grid.objects.filter(code="350502001001003").update(name="新名字")
    SpatialIndexState.objects.update(version=SpatialIndexState.objects.get().version + 1)
    assert locate.locate(inside.y, inside.x).grid_name == "新名字"


@pytest.mark.django_db
def test_import_and_delete_are_seen_by_locate(grids):
    far = shapely.box(118.7, 25.0, 118.71, 25.01)
    assert not locate.locate(25.005, 118.705).found
    services.import_grids(collection([feature(far, code="350502001003001", name="远")]))
    assert locate.locate(25.005, 118.705).grid_code == "350502001003001"
    Grid.objects.get(code="350502001003001").delete()  # as the admin would: the signal bumps
    assert not locate.locate(25.005, 118.705).found


@pytest.mark.django_db
def test_invalidate(grids):
    before = locate.current_version()
    locate.invalidate()
    assert locate.current_version()[0] == before[0] + 1


@pytest.mark.django_db
def test_micro_grid_only_within_the_found_grid(grids):
    # a point of grid 2 never reports grid 1's micro-grids
    p = shape(Grid.objects.get(code="350502001001002").geometry).representative_point()
    assert locate.locate(p.y, p.x).micro_grid is None


def test_prefix_helpers():
    assert locate._prefixes("350500.350502.") == ["350500.", "350500.350502."]
    assert BOX_A[0] < BOX_A[2]


@pytest.mark.django_db
def test_broken_stored_geometry_does_not_break_locating(grids):
    bowtie = {"type": "Polygon", "coordinates": [[[118.6, 24.9], [118.61, 24.91], [118.61, 24.9], [118.6, 24.91], [118.6, 24.9]]]}
    Grid.objects.filter(code="350502001002003").update(geometry=bowtie)  # written around the services
    Grid.objects.filter(code="350502001002002").update(geometry={"type": "Nonsense"})
    services.bump_index_version()
    p = shape(Grid.objects.get(code="350502001001002").geometry).representative_point()
    assert locate.locate(p.y, p.x).grid_code == "350502001001002"
    assert locate.locate(24.902, 118.6095).grid_code == "350502001002003"  # in the repaired bow-tie
