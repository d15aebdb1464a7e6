"""Point → grid: which grid (and micro-grid) contains a point, and the regions above it.

Two layers:

* :class:`GridIndex`, a pure in-memory engine over an array of Shapely polygons, exact and
  fast for one point and for millions (the benchmark uses it directly).
* :func:`locate` / :func:`locate_many`, which keep one :class:`PlaceIndex` per process built
  from the database and check ``SpatialIndexState.version`` (one cheap query) on every call,
  rebuilding when another process or a service changed the grids.

How GridIndex answers (all numpy-vectorised):

1. A raster of square cells covers the polygons. A cell that no boundary passes through lies
   entirely inside one polygon (or outside all); its answer is precomputed (row runs of such
   cells are labelled with one exact Shapely query each).
2. A cell a boundary passes through keeps the list of boundary segments that touch it. A
   point there casts a ray eastwards; the nearest segment it crosses decides: a point lies
   inside the polygon whose boundary it leaves when going east (exterior rings are
   anticlockwise, holes clockwise, so "inside" is the side the ray comes from). With no
   crossing inside the cell the ray continues into the next cell east.
3. Anything the floating-point arithmetic cannot decide with certainty (a point within
   1e-9° ≈ 0.1 mm of a boundary, two crossings that close, a nearly horizontal segment) and
   every edge-cell point when polygons overlap goes to an exact STRtree query (GEOS, robust
   predicates). Ties (a point on a shared border, or in two overlapping polygons) go to the
   smaller polygon, then the lower index: the same rule in every path.

The answers are those of ``STRtree.query(points, predicate="intersects")`` with that tie
rule, for valid polygons; tests and bench/locate.py check it point by point.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field

import numpy as np
import shapely

from . import geo

# Columns of the segment table: the low and high end (by latitude), dx/dy, whether the
# segment is nearly horizontal, and the polygon whose interior lies west of it (-1: none).
# The two copies of a border shared by two polygons are merged into one row.
_XL, _YL, _XH, _YH, _SLOPE, _FLAT, _OWNER = range(7)
_TOL = 1e-9  # degrees (0.1 mm): a point this close to a boundary or a tie is left to GEOS
_MAX_SLOPE = 1e3  # beyond it rounding in the crossing exceeds _TOL / 30: left to GEOS
_MAX_STEPS = 8  # cells a ray may pass through before GEOS takes over


class GridIndex:
    """Exact point-in-polygon over many polygons: ``locate_one`` / ``locate_many`` return the
    position of the containing polygon in the input array, or -1."""

    def __init__(self, polygons, *, cells_per_polygon: int = 64, max_cells: int = 1 << 24):
        polys = np.asarray(polygons, dtype=object).ravel()
        self.polygons = polys
        self.size = n = len(polys)
        self.tree = shapely.STRtree(polys)
        shapely.prepare(polys)
        areas = shapely.area(polys) if n else np.zeros(0)
        self._rank = np.empty(n, np.int64)
        self._rank[np.lexsort((np.arange(n), areas))] = np.arange(n)
        # The overlap check runs in GEOS, which releases the GIL: overlap it with the raster.
        check = _Background(_interiors_disjoint, polys, self.tree)
        self._build_raster(polys, cells_per_polygon, max_cells)
        self.disjoint = check.result()
        self._label_inner_cells()

    @property
    def nbytes(self) -> int:
        """Memory of the raster and segment tables (the polygons and STRtree not counted)."""
        return sum(a.nbytes for a in (self._table, self._seg, self._eoff, self._eseg, self._rank))

    # ---- construction -------------------------------------------------------------------

    def _build_raster(self, polys, cells_per_polygon: int, max_cells: int) -> None:
        """Choose the cells and list the boundary segments touching each edge cell."""
        n = self.size
        self._seg = _segments(polys) if n else np.zeros((0, 7))
        if n == 0:
            self.x0 = self.y0 = 0.0
            self.s, self.nx, self.ny = 1.0, 1, 1
            self._edge_cells = np.zeros(0, np.int64)
            self._eoff = np.zeros(1, np.int64)
            self._eseg = np.zeros(0, np.int32)
            self.edge_share = 0.0
            return
        minx, miny, maxx, maxy = shapely.total_bounds(polys)
        w, h = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        s = math.sqrt(w * h / max(16, min(max_cells, cells_per_polygon * n)))
        while (w / s + 3) * (h / s + 3) > max_cells:
            s *= 1.25
        self.s = s
        self.x0, self.y0 = minx - s, miny - s  # a margin of empty cells all round
        self.nx, self.ny = int((maxx - self.x0) / s) + 2, int((maxy - self.y0) / s) + 2
        cells, segs = self._touching_cells(self._seg)
        first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        self._edge_cells = cells[first]
        self._eseg = segs.astype(np.int32)
        self._eoff = np.append(first, len(segs)).astype(np.int64)
        self.edge_share = len(first) / (self.nx * self.ny)

    def _label_inner_cells(self) -> None:
        """Fill the table: edge cells point to their segment lists; every row run of cells no
        boundary touches gets the polygon that contains it (or -1)."""
        nx, ny, s = self.nx, self.ny, self.s
        pending = np.iinfo(np.int32).max
        table = np.full(nx * ny, pending, np.int32)
        table[self._edge_cells] = -2 - np.arange(len(self._edge_cells), dtype=np.int32)
        self._table = table
        inner = (table == pending).reshape(ny, nx)
        ends = inner.copy()
        ends[:, :-1] &= ~inner[:, 1:]
        run_end = np.flatnonzero(ends)
        run_of_cell = np.cumsum(ends.ravel()) - ends.ravel()  # run ends before the cell
        ry, rx = np.divmod(run_end, nx)
        x, y = self.x0 + (rx + 0.5) * s, self.y0 + (ry + 0.5) * s
        if self.disjoint:
            # Cast the ray from the end of each run on into the edge cells east of it; a run
            # whose ray passes into another run is left to GEOS.
            labels = np.full(len(run_end), -1, np.int32)
            cx = rx + 1
            go = np.flatnonzero(cx < nx)
            labels[go] = table[ry[go] * nx + cx[go]]
            self._follow_rays(x, y, cx, ry, labels, go)
            late = np.flatnonzero(labels == pending)
            labels[late] = self._exact(x[late], y[late])
        else:
            labels = self._exact(x, y)
        mask = inner.ravel()
        table[mask] = labels[run_of_cell[mask]]

    def _touching_cells(self, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cell, segment) pairs, unique, sorted by cell: every cell each segment touches,
        widened by a hair so that rounding can never leave a touched cell out."""
        s, nx, ny = self.s, self.nx, self.ny
        u0, v0 = (seg[:, _XL] - self.x0) / s, (seg[:, _YL] - self.y0) / s
        u1, v1 = (seg[:, _XH] - self.x0) / s, (seg[:, _YH] - self.y0) / s
        ids = np.arange(len(seg))
        out_cells, out_segs = [], []

        def add(iu, iv, which):
            ok = (iu >= 0) & (iu < nx) & (iv >= 0) & (iv < ny)
            out_cells.append(iv[ok] * nx + iu[ok])
            out_segs.append(which[ok])

        eps = max(1e-6, 4 * _TOL / s)  # in cell units: within it a segment touches a cell

        def floors(a):
            lo = np.floor(a - eps).astype(np.int64)
            hi = np.floor(a + eps).astype(np.int64)
            return lo, hi, hi != lo

        for u, v in ((u0, v0), (u1, v1)):  # the cells of both ends
            ul, uh, du = floors(u)
            vl, vh, dv = floors(v)
            both = du & dv
            add(ul, vl, ids)
            add(uh[du], vl[du], ids[du])
            add(ul[dv], vh[dv], ids[dv])
            add(uh[both], vh[both], ids[both])
        # Each grid line a segment crosses leads into one more cell: the one beyond the line
        # in the direction of travel (low end → high end).
        for p0, p1, q0, q1, vertical in ((u0, u1, v0, v1, True), (v0, v1, u0, u1, False)):
            k0 = np.floor(np.minimum(p0, p1)).astype(np.int64) + 1
            count = np.maximum(np.floor(np.maximum(p0, p1)).astype(np.int64) - k0 + 1, 0)
            which = np.repeat(ids, count)
            k = k0[which] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
            q = q0[which] + (k - p0[which]) * (q1[which] - q0[which]) / (p1[which] - p0[which])
            beyond = np.where(p1[which] > p0[which], k, k - 1)
            ql, qh, dq = floors(q)
            if vertical:
                add(beyond, ql, which)
                add(beyond[dq], qh[dq], which[dq])
            else:
                add(ql, beyond, which)
                add(qh[dq], beyond[dq], which[dq])
        nseg = max(len(seg), 1)
        keys = np.concatenate(out_cells) * nseg + np.concatenate(out_segs)
        keys.sort()
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
        return keys // nseg, keys % nseg

    # ---- queries --------------------------------------------------------------------------

    def _exact(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """GEOS answer for each point (covers: a point on a boundary belongs to the polygon)."""
        result = np.full(len(xs), -1, np.int32)
        if len(xs) == 0 or self.size == 0:
            return result
        pts, polys = self.tree.query(shapely.points(xs, ys), predicate="intersects")
        if len(pts):
            order = np.lexsort((self._rank[polys], pts))  # by point, best polygon first
            pts, polys = pts[order], polys[order]
            first = np.r_[True, pts[1:] != pts[:-1]]
            result[pts[first]] = polys[first]
        return result

    def _exact_one(self, x: float, y: float) -> int:
        hits = self.tree.query(shapely.Point(x, y), predicate="intersects")
        if len(hits) == 0:
            return -1
        return int(hits[0]) if len(hits) == 1 else int(hits[np.argmin(self._rank[hits])])

    def locate_many(self, lats, lons) -> np.ndarray:
        """Position of the polygon containing each point (lat, lon arrays), -1 where none."""
        y = np.asarray(lats, dtype=float).ravel()
        x = np.asarray(lons, dtype=float).ravel()
        nx, ny = self.nx, self.ny
        cx = np.floor((x - self.x0) / self.s)
        cy = np.floor((y - self.y0) / self.s)
        inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)  # NaN compares False
        cx = np.where(inside, cx, 0).astype(np.int64)
        cy = np.where(inside, cy, 0).astype(np.int64)
        result = np.where(inside, self._table[cy * nx + cx], -1).astype(np.int32)
        todo = np.flatnonzero(result <= -2)
        if self.disjoint:
            self._follow_rays(x, y, cx, cy, result, todo)
        else:
            result[todo] = self._exact(x[todo], y[todo])
        return result

    def _follow_rays(self, x, y, cx, cy, result, todo) -> None:
        """Resolve the points ``todo`` whose cell (cx, cy) is an edge cell (result <= -2):
        cast rays east, cell by cell, until a crossing or a labelled cell decides."""
        nx = self.nx
        undecided = []
        for _ in range(_MAX_STEPS):
            if not len(todo):
                break
            decided, value, ambiguous, onward = self._cast_rays(x[todo], y[todo], cx[todo], -2 - result[todo])
            result[todo[decided]] = value[decided]
            undecided.append(todo[ambiguous])
            todo = todo[onward]
            cx[todo] += 1
            beyond = cx[todo] >= nx
            result[todo[beyond]] = -1
            todo = todo[~beyond]
            result[todo] = self._table[cy[todo] * nx + cx[todo]]
            todo = todo[result[todo] <= -2]
        undecided.append(todo)  # rays still going (along a horizontal border): GEOS decides
        if undecided:
            todo = np.concatenate(undecided)
            result[todo] = self._exact(x[todo], y[todo])

    def _cast_rays(self, px, py, cx, edge):
        """For points in edge cells: the nearest boundary crossing east of each point within
        its cell. Returns (decided, value, ambiguous, no-crossing-here) per point."""
        first = self._eoff[edge]
        count = self._eoff[edge + 1] - first
        group_start = np.cumsum(count) - count
        point = np.repeat(np.arange(len(px)), count)
        pair = np.arange(count.sum())
        seg = self._seg[self._eseg[np.repeat(first - group_start, count) + pair]]
        y, x = py[point], px[point]
        yl, yh = seg[:, _YL], seg[:, _YH]
        east = self.x0 + (cx + 1) * self.s
        xc = seg[:, _XL] + (y - yl) * seg[:, _SLOPE]
        crosses = (yl <= y) & (y < yh) & (xc >= x - _TOL) & (xc < east[point] + _TOL)
        xc = np.where(crosses, xc, np.inf)
        nearest = np.minimum.reduceat(xc, group_start)
        close = xc < nearest[point] + 2 * _TOL
        n_close = np.add.reduceat(close.astype(np.int32), group_start)
        winner = np.maximum.reduceat(np.where(close, pair, -1), group_start)
        flat = np.logical_or.reduceat(crosses & (seg[:, _FLAT] > 0), group_start)
        # On a horizontal segment or at the top end of one a point crosses nothing (the
        # half-open rule) yet lies on the boundary: those go to GEOS.
        on_boundary = np.zeros(len(px), bool)
        near = np.flatnonzero(np.abs(y - yh) <= _TOL)
        if len(near):
            xl, xh, xn = seg[near, _XL], seg[near, _XH], x[near]
            on_boundary[point[near[(xn >= np.minimum(xl, xh) - _TOL) & (xn <= np.maximum(xl, xh) + _TOL)]]] = True
        found = np.isfinite(nearest)
        ambiguous = on_boundary | flat | found & (
            (n_close > 1) | (nearest < px + _TOL) | (nearest >= east - _TOL)
        )
        value = np.where(found, seg[np.maximum(winner, 0), _OWNER], -1).astype(np.int32)
        return found & ~ambiguous, value, ambiguous, ~found & ~ambiguous

    def locate_one(self, lat: float, lon: float) -> int:
        """Position of the polygon containing one point, -1 if none: the same answers as
        :meth:`locate_many`, in plain Python because numpy is slow on one element."""
        x, y, s = float(lon), float(lat), self.s
        fx, fy = (x - self.x0) / s, (y - self.y0) / s
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return -1
        cx, cy = int(fx), int(fy)
        value = int(self._table[cy * self.nx + cx])
        if value > -2:
            return value
        if not self.disjoint:
            return self._exact_one(x, y)
        for _ in range(_MAX_STEPS):
            edge = -2 - value
            east = self.x0 + (cx + 1) * s
            crossings = []
            for xl, yl, xh, yh, slope, flat, owner in self._seg[self._eseg[self._eoff[edge]:self._eoff[edge + 1]]].tolist():
                if abs(y - yh) <= _TOL and min(xl, xh) - _TOL <= x <= max(xl, xh) + _TOL:
                    return self._exact_one(x, y)
                if yl <= y < yh:
                    xc = xl + (y - yl) * slope
                    if x - _TOL <= xc < east + _TOL:
                        if flat:
                            return self._exact_one(x, y)
                        crossings.append((xc, owner))
            if crossings:
                nearest, owner = min(crossings)
                if nearest < x + _TOL or nearest >= east - _TOL or sum(xc < nearest + 2 * _TOL for xc, _ in crossings) > 1:
                    return self._exact_one(x, y)
                return int(owner)
            cx += 1
            if cx >= self.nx:
                return -1
            value = int(self._table[cy * self.nx + cx])
            if value > -2:
                return value
        return self._exact_one(x, y)  # a ray running along a horizontal border


def _segments(polys: np.ndarray) -> np.ndarray:
    """Every boundary segment of every polygon as a row of the segment table, the two
    copies of a shared border merged."""
    parts, part_owner = shapely.get_parts(polys, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]] if len(rings) else np.zeros(0, bool)
    # Interior on the left: exterior rings anticlockwise, holes clockwise.
    owner_left = shapely.is_ccw(rings) == exterior
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b, ring = coords[:-1][same], coords[1:][same], ring[:-1][same]
    north = b[:, 1] > a[:, 1]
    lo = np.where(north[:, None], a, b)
    hi = np.where(north[:, None], b, a)
    west = north == owner_left[ring]  # the owner's interior lies west of the segment
    owner = part_owner[ring_part[ring]]
    # Merge the two copies of a shared border (same ends, interiors on opposite sides).
    order = np.lexsort((hi[:, 0], hi[:, 1], lo[:, 0], lo[:, 1]))
    lo, hi, west, owner = lo[order], hi[order], west[order], owner[order]
    key = np.c_[lo, hi]
    new = np.r_[True, (key[1:] != key[:-1]).any(axis=1)]
    group = np.cumsum(new) - 1
    size = np.bincount(group)[group]
    pair_first = new & (size == 2)
    pair_second = ~new & (size == 2)
    opposite = np.zeros(len(lo), bool)
    opposite[:-1] = pair_first[:-1] & (west[:-1] != west[1:])
    opposite[1:] |= pair_second[1:] & opposite[:-1]
    keep = ~opposite | west  # of a merged pair keep the copy whose owner lies west
    dy = hi[:, 1] - lo[:, 1]
    slope = np.divide(hi[:, 0] - lo[:, 0], dy, out=np.zeros(len(dy)), where=dy > 0)
    seg = np.empty((len(lo), 7))
    seg[:, _XL], seg[:, _YL], seg[:, _XH], seg[:, _YH] = lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]
    seg[:, _SLOPE] = slope
    seg[:, _FLAT] = np.abs(slope) > _MAX_SLOPE
    seg[:, _OWNER] = np.where(west, owner, -1)
    return seg[keep]


class _Background(threading.Thread):
    """Run one function in a thread; ``result()`` waits for it and re-raises its error."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self._fn, self._args, self._value, self._error = fn, args, None, None
        self.start()

    def run(self):
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to the caller
            self._error = exc

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def _interiors_disjoint(polys: np.ndarray, tree) -> bool:
    """Whether no two polygons share interior points (the ray casting relies on it)."""
    if len(polys) < 2:
        return True
    try:
        if shapely.coverage_is_valid(polys):
            return True
        left, right = tree.query(polys, predicate="intersects")
        pair = left < right
        return not shapely.relate_pattern(polys[left[pair]], polys[right[pair]], "T********").any()
    except shapely.errors.GEOSException:
        return False  # undecidable: answer every border point with GEOS


# ---- the database-backed index ----------------------------------------------------------


@dataclass(frozen=True)
class RegionRef:
    level: str
    code: str
    name: str


@dataclass(frozen=True)
class MicroGridRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class LocateResult:
    """Where a point is: its grid (and micro-grid) and the regions above, top first. A point
    outside every grid is ``found=False`` with a ``reason``, never an exception."""

    found: bool
    lat: float
    lon: float
    grid_id: int | None = None
    grid_code: str | None = None
    grid_name: str | None = None
    micro_grid: MicroGridRef | None = None
    ancestors: list[RegionRef] = field(default_factory=list)
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


OUTSIDE_GRIDS = "outside_grids"  # the point lies in no grid
NO_GRIDS = "no_grids"  # there are no grids at all yet


class PlaceIndex:
    """The grids and micro-grids of the database at one index version, ready to answer."""

    def __init__(self, version, grids: list[dict], micro_grids: list[dict], regions: dict[str, RegionRef]):
        self.version = version
        self.grids = GridIndex(_shapes([g["geometry"] for g in grids]))
        self.grid_ids = np.array([g["id"] for g in grids], dtype=np.int64)
        self.grid_codes = [g["code"] for g in grids]
        self.grid_names = [g["name"] for g in grids]
        self.ancestors = [_chain(g["region__path"], regions) for g in grids]
        position = {g["id"]: i for i, g in enumerate(grids)}
        self.micro = GridIndex(_shapes([m["geometry"] for m in micro_grids]))
        self.micro_refs = [MicroGridRef(m["id"], m["code"], m["name"]) for m in micro_grids]
        self.micro_grid_of = np.array([position.get(m["grid_id"], -1) for m in micro_grids], dtype=np.int64)
        self.has_micro = np.zeros(len(grids), bool)
        self.has_micro[self.micro_grid_of[self.micro_grid_of >= 0]] = True
        self._grid_rows: dict[int, tuple] = {}
        self._region_rows: dict[str, tuple] = {}

    @classmethod
    def load(cls, version=None) -> "PlaceIndex":
        """Read every grid, micro-grid and the regions above them from the database."""
        from .models import Grid, MicroGrid, Region

        grid_fields = _row_fields(Grid)
        grids = list(Grid.objects.order_by("id").values(*grid_fields, "geometry", "region__path"))
        micro = list(MicroGrid.objects.order_by("id").values("id", "code", "name", "geometry", "grid_id"))
        prefixes = {p for g in grids for p in _prefixes(g["region__path"])}
        region_fields = _row_fields(Region)
        region_rows = list(Region.objects.filter(path__in=prefixes).values(*region_fields))
        regions = {r["path"]: RegionRef(r["level"], r["code"], r["name"]) for r in region_rows}
        index = cls(version, grids, micro, regions)
        index._grid_rows = {g["id"]: (g["region__path"], tuple(g[f] for f in grid_fields)) for g in grids}
        index._region_rows = {r["path"]: tuple(r[f] for f in region_fields) for r in region_rows}
        return index

    # Model instances rebuilt from the rows read with the index: intake needs a case's grid,
    # community, street and district, and reading them again would cost a query each. Each
    # call makes fresh instances (callers may change them) with the polygons deferred, just
    # as `Grid.objects.defer("geometry")` would give them.

    def grid(self, grid_id: int):
        """The grid with this id as a model instance (its community attached), or None."""
        from .models import Grid

        row = self._grid_rows.get(grid_id)
        if row is None:
            return None
        region_path, values = row
        grid = Grid.from_db("default", _row_fields(Grid), values)
        region = self.region(region_path)
        if region is not None:
            Grid.region.field.set_cached_value(grid, region)
        return grid

    def region(self, path: str):
        """The region at this path as a model instance, if it lies above some grid; else None."""
        from .models import Region

        values = self._region_rows.get(path)
        return Region.from_db("default", _row_fields(Region), values) if values is not None else None

    def result(self, position: int, lat: float, lon: float) -> LocateResult:
        """The typed answer for a grid position (-1: none) at a WGS-84 point."""
        if position < 0:
            reason = OUTSIDE_GRIDS if self.grids.size else NO_GRIDS
            return LocateResult(found=False, lat=lat, lon=lon, reason=reason)
        micro = None
        if self.has_micro[position]:
            m = self.micro.locate_one(lat, lon)
            if m >= 0 and self.micro_grid_of[m] == position:
                micro = self.micro_refs[m]
        return LocateResult(
            found=True, lat=lat, lon=lon, grid_id=int(self.grid_ids[position]), grid_code=self.grid_codes[position],
            grid_name=self.grid_names[position], micro_grid=micro, ancestors=list(self.ancestors[position]),
        )


@dataclass
class LocateBatch:
    """Answers for many points: numpy arrays, expanded to LocateResult on demand."""

    index: PlaceIndex
    lat: np.ndarray
    lon: np.ndarray
    position: np.ndarray  # grid position in the index, -1 where none

    @property
    def found(self) -> np.ndarray:
        return self.position >= 0

    @property
    def grid_ids(self) -> np.ndarray:
        """Database id of each point's grid, -1 where none."""
        ids = np.append(self.index.grid_ids, -1)
        return ids[self.position]  # position -1 picks the appended -1

    @property
    def grid_codes(self) -> list[str | None]:
        codes = self.index.grid_codes
        return [codes[p] if p >= 0 else None for p in self.position.tolist()]

    def __len__(self) -> int:
        return len(self.position)

    def __getitem__(self, i: int) -> LocateResult:
        return self.index.result(int(self.position[i]), float(self.lat[i]), float(self.lon[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))


_lock = threading.Lock()
_current: PlaceIndex | None = None


def current_version():
    """The database's index version: one cheap query, at most once per request."""
    from . import versions

    return versions.current().places


def get_index() -> PlaceIndex:
    """This process's index, rebuilt first if the grids changed since it was built."""
    global _current
    version = current_version()
    index = _current
    if index is not None and index.version == version:
        return index
    with _lock:
        if _current is None or _current.version != version:
            _current = PlaceIndex.load(version)
        return _current


def fresh_index() -> PlaceIndex | None:
    """This process's index if it is current, without building one (None otherwise)."""
    index = _current
    return index if index is not None and index.version == current_version() else None


def locate_grid(lat: float, lon: float):
    """The grid at a WGS-84 point as a model instance (community attached), or None."""
    index = get_index()
    position = index.grids.locate_one(lat, lon)
    return index.grid(int(index.grid_ids[position])) if position >= 0 else None


def invalidate() -> None:
    """Tell every process that the grids changed (bumps the version in the database)."""
    global _current
    from . import services

    services.bump_index_version()
    _current = None


def locate(lat, lon, crs: str = geo.WGS84) -> LocateResult:
    """The grid, micro-grid and regions at one point; InvalidInput for bad coordinates or crs."""
    lat, lon = geo.to_wgs84(lat, lon, crs)
    index = get_index()
    return index.result(index.grids.locate_one(lat, lon), lat, lon)


def locate_for(user, lat, lon, crs: str = geo.WGS84) -> LocateResult:
    """:func:`locate` as a user may see it: a grid outside the user's jurisdiction is
    answered as no grid (it does not exist for them)."""
    from .models import Grid

    result = locate(lat, lon, crs)
    if result.found and not Grid.objects.restrict(user).filter(pk=result.grid_id).exists():
        return LocateResult(found=False, lat=result.lat, lon=result.lon, reason=OUTSIDE_GRIDS)
    return result


def locate_many(lats, lons, crs: str = geo.WGS84) -> LocateBatch:
    """:func:`locate` for arrays of points, vectorised."""
    lats, lons = geo.to_wgs84(np.atleast_1d(np.asarray(lats, dtype=float)), np.atleast_1d(np.asarray(lons, dtype=float)), crs)
    index = get_index()
    return LocateBatch(index, lats, lons, index.grids.locate_many(lats, lons))


def _shapes(geometries: list[dict]) -> np.ndarray:
    """Shapely polygons from stored GeoJSON; an unreadable one becomes empty (it contains
    nothing) and an invalid one is repaired, so one bad row cannot break locating."""
    import json

    if not geometries:
        return np.zeros(0, dtype=object)
    shapes = shapely.from_geojson([json.dumps(g) for g in geometries], on_invalid="ignore")
    polygonal = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
    shapes[~np.isin(shapely.get_type_id(shapes), polygonal)] = shapely.Polygon()
    broken = ~shapely.is_valid(shapes)
    if broken.any():
        repaired = shapely.make_valid(shapes[broken], method="structure", keep_collapsed=False)
        ok = np.isin(shapely.get_type_id(repaired), polygonal)
        shapes[broken] = np.where(ok, repaired, shapely.Polygon())
    return shapes


_FIELDS: dict[type, tuple[str, ...]] = {}


def _row_fields(model) -> tuple[str, ...]:
    """The columns of a grid or region kept with the index: all but the polygon."""
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = tuple(f.attname for f in model._meta.concrete_fields if f.name != "geometry")
    return fields


def _prefixes(path: str) -> list[str]:
    """"35.3505.350502." → ["35.", "35.3505.", "35.3505.350502."]"""
    parts = path.split(".")[:-1]
    return [".".join(parts[: i + 1]) + "." for i in range(len(parts))]


def _chain(path: str, regions: dict[str, RegionRef]) -> tuple[RegionRef, ...]:
    return tuple(regions[p] for p in _prefixes(path) if p in regions)
