import json
import math

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from gridgov.errors import InvalidInput
from gridgov.places import geo

from .conftest import DATA, needs_data

# Published values of the standard formulas (lat, lon), e.g. in wandergis/coordTransform.
BEIJING = (39.915, 116.404)


def test_forward_formulas_match_published_values():
    assert geo.wgs84_to_gcj02(*BEIJING) == pytest.approx((39.91640428150164, 116.41024449916938), abs=1e-12)
    assert geo.gcj02_to_bd09(*BEIJING) == pytest.approx((39.92133699351021, 116.41036949371029), abs=1e-12)


def test_forward_formulas_agree_with_fast_geocn():
    fast_geocn = pytest.importorskip("fast_geocn")
    rng = np.random.default_rng(3)
    for lat, lon in zip(rng.uniform(18, 53, 50), rng.uniform(74, 134, 50)):
        lon_g, lat_g = fast_geocn.wgs84_to_gcj02(lon, lat)
        assert geo.wgs84_to_gcj02(lat, lon) == pytest.approx((lat_g, lon_g), abs=1e-9)


def test_inverse_is_exact_to_well_under_a_centimetre():
    rng = np.random.default_rng(4)
    lat, lon = rng.uniform(18, 53, 20000), rng.uniform(74, 134, 20000)
    for forward, inverse in [(geo.wgs84_to_gcj02, geo.gcj02_to_wgs84), (geo.wgs84_to_bd09, geo.bd09_to_wgs84),
                             (geo.gcj02_to_bd09, geo.bd09_to_gcj02)]:
        back = inverse(*forward(lat, lon))
        assert geo.haversine_m(lat, lon, *back).max() < 1e-3  # metres
        one = inverse(*forward(float(lat[0]), float(lon[0])))  # the scalar path
        assert geo.haversine_m(float(lat[0]), float(lon[0]), *one) < 1e-3
        assert isinstance(one[0], float)


def test_the_one_step_approximation_would_not_be_exact():
    # what the iteration buys: the naive inverse g - offset(g) is off by metres
    lat, lon = geo.wgs84_to_gcj02(24.9, 118.6)
    naive = (2 * lat - geo.wgs84_to_gcj02(lat, lon)[0], 2 * lon - geo.wgs84_to_gcj02(lat, lon)[1])
    assert geo.haversine_m(24.9, 118.6, *naive) > 0.01
    assert geo.haversine_m(24.9, 118.6, *geo.gcj02_to_wgs84(lat, lon)) < 1e-3


def test_shift_is_hundreds_of_metres_in_china_and_nothing_outside():
    assert 300 < geo.haversine_m(24.9, 118.6, *geo.wgs84_to_gcj02(24.9, 118.6)) < 900
    assert geo.wgs84_to_gcj02(48.85, 2.35) == (48.85, 2.35)  # Paris
    assert geo.gcj02_to_wgs84(48.85, 2.35) == (48.85, 2.35)
    assert geo.in_china(24.9, 118.6) and not geo.in_china(48.85, 2.35)


def test_to_wgs84_every_crs_and_aliases():
    truth = (24.9, 118.6)
    for crs, point in [("wgs84", truth), ("GCJ-02", geo.wgs84_to_gcj02(*truth)), ("bd09", geo.wgs84_to_bd09(*truth)),
                       ("amap", geo.wgs84_to_gcj02(*truth)), ("baidu", geo.wgs84_to_bd09(*truth)), (None, truth),
                       ("", truth)]:  # an empty query parameter means the default
        assert geo.haversine_m(*truth, *geo.to_wgs84(*point, crs)) < 1e-3
    lat, lon = geo.to_wgs84([24.9, 25.0], [118.6, 118.7], "gcj02")  # lists are vectorised
    assert lat.shape == (2,)
    for crs in geo.CRS_CHOICES:
        assert geo.haversine_m(*truth, *geo.to_wgs84(*geo.from_wgs84(*truth, crs), crs)) < 1e-3


@pytest.mark.parametrize("crs", ["mercator", "epsg:3857", 4326, "gcj03", " "])
def test_unknown_crs_is_invalid_input(crs):
    with pytest.raises(InvalidInput) as err:
        geo.to_wgs84(24.9, 118.6, crs)
    assert err.value.code == "unknown_crs"


@pytest.mark.parametrize("lat,lon", [(91, 118), (-90.0001, 0), (24, 180.5), (24, -181), (math.nan, 118), (24, math.inf)])
def test_out_of_range_is_invalid_input(lat, lon):
    with pytest.raises(InvalidInput) as err:
        geo.to_wgs84(lat, lon, "gcj02")
    assert err.value.code == "coordinates_out_of_range"


def test_out_of_range_in_arrays_names_the_point():
    with pytest.raises(InvalidInput) as err:
        geo.to_wgs84(np.array([24.9, 95.0]), np.array([118.6, 118.6]))
    assert err.value.details["index"] == 1


@pytest.mark.parametrize("lat,lon", [("abc", 118), (None, 118), (True, 118), ([1, 2], [1, 2, 3]), ({}, 1)])
def test_non_numbers_are_invalid_input(lat, lon):
    with pytest.raises(InvalidInput) as err:
        geo.to_wgs84(lat, lon)
    assert err.value.code == "coordinates_not_numbers"


def test_local_metres_and_area():
    square = shapely.box(118.5, 24.9, 118.51, 24.91)  # about 1,010 m × 1,108 m
    assert geo.area_m2(square) == pytest.approx(1.118e6, rel=0.01)
    assert geo.to_local_metres(square).area == pytest.approx(geo.area_m2(square), rel=1e-6)


# ---- against reality: county boundaries in GCJ-02 and in CGCS2000 -----------------------


def _counties():
    """(name, GCJ-02 polygon, CGCS2000 polygon) for every county of 泉州 and 漳州."""
    pairs = []
    for gcj_file, ref_file in [("350500_full.json", "quanzhou_350500_counties.geojson"),
                               ("350600_full.json", "zhangzhou_350600_counties.geojson")]:
        gcj = json.loads((DATA / "boundaries" / "gcj02" / gcj_file).read_text(encoding="utf-8"))["features"]
        ref = json.loads((DATA / "boundaries" / ref_file).read_text(encoding="utf-8"))["features"]
        by_code = {f["properties"]["gb"][3:]: f for f in ref}
        for f in gcj:
            polygon = shapely.make_valid(shape(f["geometry"]))  # two Quanzhou polygons are self-intersecting
            match = by_code.get(str(f["properties"]["adcode"]))
            if match is None:
                # Zhangzhou's GCJ-02 file has pre-2021 codes (长泰县 350625, 龙海市 350681): best overlap
                match = max(ref, key=lambda r: shape(r["geometry"]).intersection(polygon).area)
            pairs.append((f["properties"]["name"], polygon, shape(match["geometry"])))
    return pairs


def _gcj_to_wgs(polygon):
    return shapely.transform(polygon, lambda xy: np.column_stack(geo.gcj02_to_wgs84(xy[:, 1], xy[:, 0])[::-1]))


def _best_shift_m(polygon, reference):
    """The translation (metres) that best lays polygon onto reference, found by a compass
    search on the symmetric-difference area in a local metric plane; and that area's share."""
    lat0 = reference.centroid.y
    a, b = geo.to_local_metres(polygon, lat0), geo.to_local_metres(reference, lat0)
    shapely.prepare(b)

    def cost(dx, dy):
        return shapely.symmetric_difference(shapely.transform(a, lambda xy: xy + [dx, dy]), b).area

    x = y = 0.0
    best, step = cost(0, 0), 256.0
    while step >= 1:
        for dx, dy in ((step, 0), (-step, 0), (0, step), (0, -step)):
            c = cost(x + dx, y + dy)
            if c < best:
                best, x, y = c, x + dx, y + dy
                break
        else:
            step /= 2
    return math.hypot(x, y), best / b.area


@needs_data
def test_gcj02_counties_converted_to_wgs84_land_on_the_cgcs2000_counties():
    """Converting the GCJ-02 county polygons of 泉州 and 漳州 with gcj02_to_wgs84 removes the
    GCJ-02 offset: the translation that would best lay each converted county onto its
    CGCS2000 counterpart is at most 70 m for every county whose two outlines agree in shape
    (best-fit symmetric difference < 5 %: the inland counties), with a median of at most
    40 m — the rest is the two sources' different generalisation (their vertices are
    100–500 m apart). Unconverted, the same counties are 550–650 m off. Coastal counties,
    whose outlines differ by islands and sea walls, only have to improve."""
    agreeing, converted_shifts = 0, []
    for name, gcj, reference in _counties():
        raw_shift, _ = _best_shift_m(gcj, reference)
        shift, mismatch = _best_shift_m(_gcj_to_wgs(gcj), reference)
        assert shift < raw_shift, name
        assert raw_shift > 500, name  # the uncorrected offset is real
        if mismatch < 0.05:
            agreeing += 1
            converted_shifts.append(shift)
            assert shift <= 70, (name, shift)
            assert raw_shift >= 550, (name, raw_shift)
    assert agreeing >= 8
    assert float(np.median(converted_shifts)) <= 40


@needs_data
def test_converted_counties_overlap_better_than_raw_ones():
    # the plainest measure: at zero shift, the symmetric difference shrinks for every county
    for name, gcj, reference in _counties():
        lat0 = reference.centroid.y
        ref = geo.to_local_metres(reference, lat0)
        raw = shapely.symmetric_difference(geo.to_local_metres(gcj, lat0), ref).area
        fixed = shapely.symmetric_difference(geo.to_local_metres(_gcj_to_wgs(gcj), lat0), ref).area
        assert fixed < raw, name
