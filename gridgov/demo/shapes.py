"""Plane geometry for the demo city: seed points, Voronoi partitions clipped to a parent,
carving special areas, buildings, and the reading order used to number siblings.

Everything works in WGS-84 degrees with Shapely 2 (GEOS OverlayNG in full floating
precision) and is deterministic for a given ``numpy.random.Generator``. Children are cut
from their parent by overlays, so they are valid, inside it and free of overlaps up to
floating-point rounding (areas of order 10⁻¹⁷ deg², far below a square millimetre);
coordinates are Python floats, which survive a JSON round trip unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

EPS = 1e-9  # degrees (≈ 0.1 mm): a distance below any meaningful detail
# Metres per degree at Quanzhou's latitude (≈ 25° N).
M_PER_DEG_LAT = 110_900.0
M_PER_DEG_LON = 100_600.0
# Parts smaller than this share of their cell are merged into a neighbour (slivers).
SLIVER_SHARE = 0.02


def valid(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` repaired if needed, as Polygon or MultiPolygon."""
    return as_areal(geom if geom.is_valid else shapely.make_valid(geom))


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The polygon parts of any geometry (collections from overlays included)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygons_of(g)]
    return []


def as_areal(geom: BaseGeometry) -> BaseGeometry:
    """Polygon or MultiPolygon made of the areal parts of ``geom``."""
    parts = [p for p in polygons_of(geom) if p.area > 0]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def clip(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return as_areal(shapely.intersection(a, b))


def cut(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return as_areal(shapely.difference(a, b))


def merge(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return as_areal(shapely.union(a, b))


# --- points ------------------------------------------------------------------------------


def random_points(poly: BaseGeometry, n: int, rng: np.random.Generator, *, centre=None, sigma: float | None = None) -> np.ndarray:
    """``n`` points inside ``poly``: uniform, or normal around ``centre`` with ``sigma``
    degrees (rejection sampling; falls back to uniform where the normal keeps missing)."""
    if n <= 0:
        return np.empty((0, 2))
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    found: list[np.ndarray] = []
    total, attempts = 0, 0
    while total < n:
        batch = max(64, (n - total) * 4)
        if centre is not None and sigma and attempts < 20:
            xs = rng.normal(centre[0], sigma, batch)
            ys = rng.normal(centre[1], sigma, batch)
        else:
            xs = rng.uniform(minx, maxx, batch)
            ys = rng.uniform(miny, maxy, batch)
        inside = shapely.contains_xy(poly, xs, ys)
        pts = np.column_stack([xs[inside], ys[inside]])
        found.append(pts)
        total += len(pts)
        attempts += 1
        if attempts > 200:
            raise RuntimeError("cannot place points inside a degenerate polygon")
    return np.concatenate(found)[:n]


def spread_points(poly: BaseGeometry, n: int, rng: np.random.Generator, taken: np.ndarray | None = None) -> np.ndarray:
    """``n`` well-spread points inside ``poly`` (farthest-point sampling among random
    candidates), keeping away from the ``taken`` ones."""
    if n <= 0:
        return np.empty((0, 2))
    candidates = random_points(poly, max(40, n * 12), rng)
    chosen: list[int] = []
    if taken is not None and len(taken):
        dist = np.min(np.hypot(candidates[:, None, 0] - taken[None, :, 0], candidates[:, None, 1] - taken[None, :, 1]), axis=1)
    else:
        first = int(rng.integers(len(candidates)))
        chosen.append(first)
        dist = np.hypot(candidates[:, 0] - candidates[first, 0], candidates[:, 1] - candidates[first, 1])
    while len(chosen) < n:
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.hypot(candidates[:, 0] - candidates[i, 0], candidates[:, 1] - candidates[i, 1]))
    return candidates[chosen]


def interior_point(poly: BaseGeometry, preferred=None) -> tuple[float, float]:
    """``preferred`` if it lies inside ``poly``, else a point inside the part nearest to it."""
    if preferred is not None and poly.contains(Point(preferred)):
        return float(preferred[0]), float(preferred[1])
    parts = polygons_of(poly)
    if preferred is not None:
        target = Point(preferred)
        parts = [min(parts, key=lambda p: p.distance(target))]
    rep = max(parts, key=lambda p: p.area).representative_point()
    return float(rep.x), float(rep.y)


# --- partitions --------------------------------------------------------------------------


def voronoi_cells(poly: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    """The Voronoi cell of each seed (in seed order) clipped to ``poly``."""
    if len(seeds) == 1:
        return [poly]
    minx, miny, maxx, maxy = poly.bounds
    frame = box(minx - 1, miny - 1, maxx + 1, maxy + 1)
    cells = shapely.voronoi_polygons(MultiPoint([tuple(p) for p in seeds]), extend_to=frame, ordered=True)
    return [clip(cell, poly) for cell in cells.geoms]


def _shared_border(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length of the border ``a`` and ``b`` share (0 when they only touch at points)."""
    if not a.buffer(EPS * 10).intersects(b):
        return 0.0
    return b.boundary.intersection(a.boundary.buffer(EPS * 10)).length


def _tidy(poly: BaseGeometry, cells: list[BaseGeometry], seeds: np.ndarray) -> list[BaseGeometry]:
    """Give every detached part that does not hold its seed to the neighbour it shares
    the longest border with, so that each cell is one piece; drop slivers."""
    cells = list(cells)
    for i in range(len(cells)):
        parts = polygons_of(cells[i])
        if len(parts) <= 1:
            continue
        seed = Point(seeds[i])
        keep = max(parts, key=lambda p: (p.buffer(EPS).contains(seed), p.area))
        cells[i] = keep
        for part in parts:
            if part is keep:
                continue
            border = [(_shared_border(part, cells[j]) if j != i else 0.0) for j in range(len(cells))]
            j = int(np.argmax(border))
            if border[j] > 1e-6:
                cells[j] = merge(cells[j], part)
            else:
                cells[i] = merge(cells[i], part)
    tidy = []
    for cell in cells:
        parts = polygons_of(cell)
        big = max((p.area for p in parts), default=0.0)
        parts = [p for p in parts if p.area >= SLIVER_SHARE * big]
        tidy.append(as_areal(MultiPolygon(parts) if len(parts) > 1 else parts[0] if parts else Polygon()))
    return tidy


def relaxed_seeds(poly: BaseGeometry, seeds: np.ndarray, *, fixed: int = 0, iterations: int = 2) -> np.ndarray:
    """Lloyd relaxation: move each seed but the first ``fixed`` to its cell's centroid."""
    seeds = seeds.copy()
    for _ in range(iterations):
        cells = voronoi_cells(poly, seeds)
        for i in range(fixed, len(seeds)):
            if cells[i].is_empty:
                continue
            c = cells[i].centroid
            if not poly.contains(c):
                c = cells[i].representative_point()
            seeds[i] = (c.x, c.y)
    return seeds


def partition(poly: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    """Split ``poly`` into one single-piece territory per seed (seed order), without
    overlaps and without leaving the parent."""
    if len(seeds) == 1:
        return [poly]
    return _tidy(poly, voronoi_cells(poly, seeds), seeds)


def plan_seeds(poly: BaseGeometry, n_core: int, n_rest: int, centre, rng: np.random.Generator, *, core_share: float = 0.18,
               iterations: int = 2) -> np.ndarray:
    """Seeds for ``n_core`` urban territories clustered around ``centre`` and ``n_rest``
    others spread over the rest of ``poly`` (core seeds first). Relaxed twice, the
    core cluster stays dense: small urban territories, large rural ones."""
    scale = math.sqrt(max(poly.area, 1e-12))
    core = np.empty((0, 2))
    if n_core:
        sigma = scale * core_share * math.sqrt(min(n_core, 12) / 12)
        core = np.vstack([np.array([centre]), random_points(poly, n_core - 1, rng, centre=centre, sigma=sigma)])
    rest = spread_points(poly, n_rest, rng, taken=core if n_core else None)
    seeds = np.vstack([core, rest]) if n_core else rest
    seeds = _jitter_duplicates(seeds, rng)
    if n_rest and n_core:
        seeds = relaxed_seeds(poly, seeds, fixed=n_core, iterations=iterations)
    elif len(seeds) > 1:
        seeds = relaxed_seeds(poly, seeds, fixed=0, iterations=iterations)
    return _jitter_duplicates(seeds, rng)


def _jitter_duplicates(seeds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rounded = np.round(seeds / (EPS * 1000))
    _, first = np.unique(rounded, axis=0, return_index=True)
    if len(first) == len(seeds):
        return seeds
    seeds = seeds.copy()
    dup = np.setdiff1d(np.arange(len(seeds)), first)
    seeds[dup] += rng.normal(0, 1e-5, (len(dup), 2))
    return seeds


# --- carving, buildings, points --------------------------------------------------------------


def rectangle(centre, width_m: float, height_m: float, angle_deg: float = 0.0) -> Polygon:
    """A rectangle of the given size in metres around ``centre``, rotated by ``angle_deg``."""
    w, h = width_m / 2 / M_PER_DEG_LON, height_m / 2 / M_PER_DEG_LAT
    rect = box(centre[0] - w, centre[1] - h, centre[0] + w, centre[1] + h)
    return shapely.affinity.rotate(rect, angle_deg, origin=tuple(centre)) if angle_deg else rect


def carve(poly: BaseGeometry, rng: np.random.Generator, width_m: float, height_m: float) -> BaseGeometry | None:
    """A special area (school, hospital, park) of about the given size well inside
    ``poly``, or None if none fits."""
    inner = as_areal(poly.buffer(-min(width_m, height_m) / M_PER_DEG_LAT / 2))
    if inner.is_empty:
        return None
    for centre in random_points(inner, 8, rng):
        area = clip(rectangle(centre, width_m, height_m, float(rng.uniform(-30, 30))), poly)
        big_enough = area.area > 0.8 * (width_m * height_m) / (M_PER_DEG_LAT * M_PER_DEG_LON)
        # One piece, and the rest of the parent stays in one piece too.
        if big_enough and len(polygons_of(area)) == 1 and len(polygons_of(cut(poly, area))) == 1:
            return area
    return None


def buildings(poly: BaseGeometry, n: int, rng: np.random.Generator) -> list[Polygon]:
    """Up to ``n`` non-overlapping building footprints (about 40 m × 16 m) inside ``poly``."""
    found: list[Polygon] = []
    angle = float(rng.uniform(-20, 20))
    for centre in random_points(poly, n * 6, rng):
        rect = (rectangle(centre, float(rng.uniform(30, 55)), float(rng.uniform(12, 18)), angle))
        if not poly.contains(rect):
            continue
        halo = rect.buffer(8 / M_PER_DEG_LAT)
        if any(halo.intersects(b) for b in found):
            continue
        found.append(rect)
        if len(found) == n:
            break
    return found


def random_point_in(poly: BaseGeometry, rng: np.random.Generator) -> tuple[float, float]:
    """One uniform random point inside ``poly``, rounded to 10⁻⁷° (≈ 1 cm)."""
    for _ in range(50):
        x, y = random_points(poly, 1, rng)[0]
        x, y = round(float(x), 7), round(float(y), 7)
        if shapely.contains_xy(poly, x, y):
            return x, y
    p = poly.representative_point()
    return round(p.x, 7), round(p.y, 7)
