"""The territory of the demo city: the real divisions of 泉州市 with generated polygons.

No public township, community or grid boundaries exist, so they are generated inside the
real county boundaries, deterministically for a seed: township seeds cluster around the
county seat for 街道 and spread out for 镇/乡, Voronoi territories are clipped to the
county (then relaxed), communities are cut the same way inside their township, and grids
inside their community — one grid per started 400 households — with special grids
(school, hospital, industrial park) carved out first. ``generate()`` is pure (no
database); ``save()`` writes the plan.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import mapping

from gridgov.places.services import reading_order

from . import bulk, shapes
from .sources import (
    CITY_CODE,
    DIVISION_YEAR,
    boundaries,
    city_divisions,
    is_urban_street,
    is_village,
    is_virtual,
    is_zone,
    short_name,
)

# Approximate county seats (WGS-84 lon, lat): the urban centre each county grows around.
COUNTY_SEATS = {
    "350502": (118.587, 24.913), "350503": (118.613, 24.889), "350504": (118.671, 24.939),
    "350505": (118.916, 25.126), "350521": (118.797, 25.031), "350524": (118.187, 25.056),
    "350525": (118.294, 25.321), "350526": (118.241, 25.490), "350527": (118.317, 24.433),
    "350581": (118.648, 24.732), "350582": (118.552, 24.781), "350583": (118.386, 24.960),
}
# 金门县 is administered from Taiwan; the data has only a placeholder township for it.
NO_TOWNSHIPS = {"350527"}
HOUSEHOLDS_PER_GRID = 400
SIZES = {
    # small: two districts, three streets each, four communities per street (tests).
    "small": {"districts": ("350502", "350503"), "streets": 3, "communities": 4},
    "city": {"districts": None, "streets": None, "communities": None},
}
SPECIAL_SIZES = {"学校": (260, 200), "医院": (190, 150), "工业园区": (900, 650)}


@dataclass
class GridPlan:
    code: str
    name: str
    kind: str
    special_type: str
    households: int
    geometry: object
    micro: list = field(default_factory=list)  # (code, name, households, geometry)


@dataclass
class Node:
    code: str
    name: str
    level: str
    geometry: object
    centre: tuple[float, float]
    kind: str = ""  # street / town / zone; community / village
    households: int = 0
    label: str = ""  # the name people use ("金山社区" for the official "金山社区居委会")
    children: list[Node] = field(default_factory=list)
    grids: list[GridPlan] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def rng_for(seed: int, code: str, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on the seed and the region, not on build order."""
    return np.random.default_rng([int(seed), int(code), salt])


def generate(size: str = "city", seed: int = 2026) -> Node:
    """The whole territory plan for a size ("small" or "city") and a seed."""
    spec = SIZES[size]
    tree, shapes_by_code = city_divisions(CITY_CODE), boundaries(CITY_CODE)
    city_geom = shapes.valid(shapes_by_code[CITY_CODE])
    city = Node(CITY_CODE, tree.name, "city", city_geom, shapes.interior_point(city_geom, COUNTY_SEATS["350502"]))
    for division in tree.children:
        if spec["districts"] is not None and division.code not in spec["districts"]:
            continue
        geom = shapes.valid(shapes_by_code[division.code])
        centre = shapes.interior_point(geom, COUNTY_SEATS.get(division.code))
        district = Node(division.code, division.name, "district", geom, centre)
        city.children.append(district)
        if division.code not in NO_TOWNSHIPS:
            _townships(district, division.children, seed, spec)
    return city


def _townships(district: Node, divisions, seed: int, spec) -> None:
    rng = rng_for(seed, district.code)
    urban = [d for d in divisions if is_urban_street(d.name)]
    if not urban:  # a county's seat is its first town (code 1xx)
        urban = [min((d for d in divisions if not is_zone(d.name)), key=lambda d: d.code)]
    others = [d for d in divisions if d not in urban]
    order = urban + others
    seeds = shapes.plan_seeds(district.geometry, len(urban), len(others), district.centre, rng)
    cells = shapes.partition(district.geometry, seeds)
    keep = {d.code for d in divisions[: spec["streets"]]} if spec["streets"] else None
    for division, cell, point in zip(order, cells, seeds):
        if keep is not None and division.code not in keep:
            continue
        kind = "street" if is_urban_street(division.name) else "zone" if is_zone(division.name) else "town"
        street = Node(division.code, division.name, "street", cell, shapes.interior_point(cell, point), kind)
        district.children.append(street)
        _communities(street, division.children, seed, spec)
    district.children.sort(key=lambda n: n.code)


def _households(kind: str, street_kind: str, virtual: bool, rng) -> int:
    if virtual:
        return int(rng.integers(120, 800))
    if kind == "village":
        return int(rng.integers(280, 2200))
    return int(rng.integers(1200, 4600)) if street_kind == "street" else int(rng.integers(700, 2600))


def _communities(street: Node, divisions, seed: int, spec) -> None:
    rng = rng_for(seed, street.code)
    urban = [d for d in divisions if not is_village(d.name)]
    villages = [d for d in divisions if is_village(d.name)]
    if not urban:
        urban, villages = villages[:1], villages[1:]
    order = urban + villages
    seeds = shapes.plan_seeds(street.geometry, len(urban), len(villages), street.centre, rng, core_share=0.22)
    cells = shapes.partition(street.geometry, seeds)
    keep = {d.code for d in divisions[: spec["communities"]]} if spec["communities"] else None
    for index, (division, cell, point) in enumerate(zip(order, cells, seeds)):
        if keep is not None and division.code not in keep:
            continue
        kind = "village" if is_village(division.name) else "community"
        crng = rng_for(seed, division.code)
        households = _households(kind, street.kind, is_virtual(division.name), crng)
        node = Node(division.code, division.name, "community", cell, shapes.interior_point(cell, point), kind, households,
                    label=short_name(division.name))
        street.children.append(node)
        _grids(node, street, index, crng, micro=index == 0 and street.kind == "street" and street.code.endswith("001"))
    street.children.sort(key=lambda n: n.code)


def _special_type(node: Node, street: Node, index: int, rng) -> str:
    if "工业" in node.name or "开发区" in node.name or "园区" in node.name:
        return "工业园区"
    if node.kind == "village":
        return "工业园区" if rng.random() < 0.04 else ""
    if index == 1:
        return "学校"
    if index == 0 and rng.random() < 0.5:
        return "医院"
    return "学校" if rng.random() < 0.05 else ""


def _special_name(kind: str, node: Node, street: Node) -> str:
    base = node.label.removesuffix("社区").removesuffix("村")
    if kind == "学校":
        return f"{base}{'中学' if len(base) % 2 else '小学'}"
    if kind == "医院":
        return f"{street.name.removesuffix('街道').removesuffix('镇').removesuffix('乡')}{'卫生院' if street.kind == 'town' else '社区卫生服务中心'}"
    return f"{base}工业园区"


def _grids(node: Node, street: Node, index: int, rng, *, micro: bool) -> None:
    area = node.geometry
    specials = []
    special = _special_type(node, street, index, rng)
    if special:
        carved = shapes.carve(area, rng, *SPECIAL_SIZES[special])
        if carved is not None:
            specials.append((special, carved))
            area = shapes.cut(area, carved)
    count = max(1, math.ceil(node.households / HOUSEHOLDS_PER_GRID))
    seeds = shapes.plan_seeds(area, 0, count, node.centre, rng, iterations=1) if count > 1 else np.array([area.representative_point().coords[0]])
    cells = shapes.partition(area, seeds)
    shares = rng.dirichlet(np.full(count, 12.0))
    homes = np.floor(shares * node.households).astype(int)
    homes[0] += node.households - int(homes.sum())
    plans = [("", "", int(h), cell) for h, cell in zip(homes, cells)]
    plans += [(kind, _special_name(kind, node, street), 0, geom) for kind, geom in specials]
    ordered = reading_order([p[3] for p in plans])
    for seq, i in enumerate(ordered, start=1):
        special_type, special_name, households, geom = plans[i]
        code = f"{node.code}{seq:03d}"
        if special_type:
            grid = GridPlan(code, f"{special_name}专属网格", "special", special_type, households, geom)
        else:
            grid = GridPlan(code, f"{node.label}第{seq}网格", node.kind, "", households, geom)
        node.grids.append(grid)
    if micro:
        first = next(g for g in node.grids if not g.special_type)
        for n, footprint in enumerate(shapes.buildings(first.geometry, 6, rng), start=1):
            first.micro.append((f"{first.code}{n:03d}", f"{n}号楼", int(rng.integers(24, 97)), footprint))


# --- saving ---------------------------------------------------------------------------------


def geojson(geom) -> dict:
    """GeoJSON of a geometry with plain lists (what the JSON column returns)."""
    def lists(value):
        return [lists(v) for v in value] if isinstance(value, (list, tuple)) else value

    data = mapping(geom)
    return {"type": data["type"], "coordinates": lists(data["coordinates"])}


def save(city: Node) -> dict:
    """Write the plan: the divisions through ``places.services.import_divisions`` (as a
    code,name,parent_code CSV of the plan's regions), their boundaries, then grids and
    micro-grids; the spatial index version is bumped once. Returns counts."""
    from gridgov.places import services as places
    from gridgov.places.models import Grid, MicroGrid, Region
    from gridgov.places.signals import index_signals_paused

    nodes = list(city.walk())
    parent_length = {"district": 4, "street": 6, "community": 9}
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["code", "name", "parent_code"])
    writer.writerows([n.code, n.name, n.code[: parent_length[n.level]] if n.level in parent_length else ""] for n in nodes)
    text.seek(0)
    with index_signals_paused():
        places.import_divisions(text, code_year=DIVISION_YEAR)
        regions = {r.code: r for r in Region.objects.filter(code__in=[n.code for n in nodes]).defer("geometry")}
        updates = []
        for node in nodes:
            row = regions[node.code]
            c = node.geometry.centroid if node.geometry.contains(node.geometry.centroid) else node.geometry.representative_point()
            row.geometry, row.centroid_lat, row.centroid_lon = geojson(node.geometry), round(c.y, 7), round(c.x, 7)
            updates.append(row)
        bulk.update(Region, updates, ["geometry", "centroid_lat", "centroid_lon"])
        grid_rows, micro_plans = [], []
        for node in nodes:
            row = regions[node.code]
            for plan in node.grids:
                grid = Grid(code=plan.code, name=plan.name, region=row, kind=plan.kind, special_type=plan.special_type,
                            households=plan.households, geometry=geojson(plan.geometry))
                grid.path = row.path + plan.code + "."
                grid.set_bbox()
                grid_rows.append(grid)
                micro_plans.append(plan.micro)
        bulk.insert(Grid, grid_rows, key="code")
        micro_rows = []
        for grid, micro in zip(grid_rows, micro_plans):
            for code, name, households, geom in micro:
                m = MicroGrid(code=code, name=name, grid=grid, households=households, geometry=geojson(geom))
                m.path = grid.path + code + "."
                m.set_bbox()
                micro_rows.append(m)
        bulk.insert(MicroGrid, micro_rows, key="code")
        places.bump_index_version()
    levels = [n.level for n in nodes]
    return {"districts": levels.count("district"), "streets": levels.count("street"), "communities": levels.count("community"),
            "grids": len(grid_rows), "micro_grids": len(micro_rows)}
