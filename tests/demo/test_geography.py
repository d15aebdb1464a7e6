"""The generated territory without a database: real divisions, valid polygons, nesting,
no overlaps, codes, determinism."""

import hashlib
import json
import math

import pytest
import shapely

from gridgov.demo import geography
from gridgov.demo.sources import boundaries, city_divisions, is_village
from gridgov.places.services import reading_order

# Shapely overlays run in floating point: a child may stick out of its parent, or
# overlap a sibling, by rounding error only (≈ 1e-17 deg²). These bounds are a billionth
# of the polygons' areas: far below a square millimetre.
REL_TOL = 1e-9


@pytest.fixture(scope="module")
def small():
    return geography.generate("small", 2026)


def geometry_hash(geom) -> str:
    return hashlib.sha256(json.dumps(geography.geojson(geom), sort_keys=True).encode()).hexdigest()


def fingerprint(city) -> list:
    rows = []
    for node in city.walk():
        rows.append((node.code, node.name, geometry_hash(node.geometry)))
        for grid in node.grids:
            rows.append((grid.code, grid.name, grid.households, geometry_hash(grid.geometry)))
            rows += [(code, name, hh, geometry_hash(g)) for code, name, hh, g in grid.micro]
    return rows


def test_sources_are_the_registry_packages():
    city = city_divisions()
    assert [d.code for d in city.children] == [
        "350502", "350503", "350504", "350505", "350521", "350524", "350525", "350526", "350527", "350581", "350582", "350583",
    ]
    assert sum(len(d.children) for d in city.children) == 175  # incl. the placeholder of 金门县
    assert sum(len(s.children) for d in city.children for s in d.children) == 2573
    shapes_ = boundaries()
    assert set(shapes_) == {"350500", *(d.code for d in city.children)}


def test_small_size_levels(small):
    levels = [n.level for n in small.walk()]
    assert levels.count("city") == 1 and levels.count("district") == 2
    assert levels.count("street") == 6 and levels.count("community") == 24
    districts = {d.code for d in small.children}
    assert districts == {"350502", "350503"}
    tree = {s.code: s for d in city_divisions().children for s in d.children}
    for district in small.children:
        for street in district.children:
            assert street.code.startswith(district.code) and len(street.code) == 9
            assert street.name == tree[street.code].name
            for community in street.children:
                assert community.code.startswith(street.code) and len(community.code) == 12


def test_polygons_valid_inside_parent_and_disjoint(small):
    for node in small.walk():
        children = [c.geometry for c in node.children] or [g.geometry for g in node.grids]
        for child in children:
            assert child.is_valid and not child.is_empty and child.geom_type == "Polygon"
            assert shapely.difference(child, node.geometry).area <= REL_TOL * child.area
        tree = shapely.STRtree(children)
        for i, j in zip(*tree.query(children, predicate="intersects")):
            if i < j:
                overlap = shapely.intersection(children[i], children[j]).area
                assert overlap <= REL_TOL * min(children[i].area, children[j].area)


def test_grids_per_households_codes_and_order(small):
    for community in (n for n in small.walk() if n.level == "community"):
        ordinary = [g for g in community.grids if not g.special_type]
        assert len(ordinary) == max(1, math.ceil(community.households / geography.HOUSEHOLDS_PER_GRID))
        assert sum(g.households for g in ordinary) == community.households
        codes = [g.code for g in community.grids]
        assert codes == [f"{community.code}{i:03d}" for i in range(1, len(codes) + 1)]
        assert all(len(c) == 15 and c.isdigit() for c in codes)
        order = reading_order([g.geometry for g in community.grids])
        assert order == list(range(len(codes)))  # numbered west→east, north→south
        kind = "village" if is_village(community.name) else "community"
        assert {g.kind for g in ordinary} == {kind}


def test_special_grids_and_micro_grids(small):
    grids = [g for n in small.walk() for g in n.grids]
    special = [g for g in grids if g.kind == "special"]
    assert special and all(g.special_type in {"学校", "医院", "工业园区"} for g in special)
    assert all(g.name.endswith("专属网格") for g in special)
    micro = [(g, m) for g in grids for m in g.micro]
    assert micro
    for grid, (code, name, households, geom) in micro:
        assert code.startswith(grid.code) and len(code) == 18 and name.endswith("号楼")
        assert grid.geometry.contains(geom) and households > 0


def test_deterministic_for_a_seed(small):
    again = geography.generate("small", 2026)
    assert fingerprint(again) == fingerprint(small)
    other = geography.generate("small", 7)
    assert [r[0] for r in fingerprint(other)[:40]] != [] and fingerprint(other) != fingerprint(small)


def test_small_regions_are_cut_like_the_city():
    """The small size keeps a subset of the city's territories with the same shapes."""
    spec = {"districts": ("350502",), "streets": None, "communities": None}
    geography.SIZES["_one_district"] = spec
    try:
        full = {n.code: geometry_hash(n.geometry) for n in geography.generate("_one_district", 2026).walk() if n.level == "street"}
    finally:
        del geography.SIZES["_one_district"]
    small = {n.code: geometry_hash(n.geometry) for n in geography.generate("small", 2026).walk() if n.level == "street" and n.code.startswith("350502")}
    assert small and all(full[code] == h for code, h in small.items())
