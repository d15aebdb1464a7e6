"""Benchmark: point → grid over 20,000 and 200,000 synthetic Voronoi grids.

Measures gridgov.places.locate.GridIndex against a plain Shapely STRtree query in the same
run: points per second batched (locate_many) and the median time for one point
(locate_one), and checks that every answer is identical to an exact STRtree + contains
test on the same points. No database: the polygons are built in memory.

    .venv/bin/python bench/locate.py [--points N] [--sizes 20000,200000] [--single N]

Goals: >= 1,000,000 points/s batched and <= 20 µs median for one point over 200,000 grids.
Ends with one JSON line of results.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gridgov.places.locate import GridIndex  # noqa: E402

# A city-sized box around central Quanzhou: about 40 km × 40 km.
BBOX = (118.40, 24.72, 118.80, 25.08)
GOAL_RATE = 1_000_000
GOAL_SINGLE_US = 20.0


def voronoi_grids(n: int, rng) -> np.ndarray:
    x0, y0, x1, y1 = BBOX
    seeds = shapely.multipoints(np.c_[rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    box = shapely.box(*BBOX)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))
    return shapely.intersection(cells, box)


def strtree_reference(tree, polys, xs, ys, predicate):
    """The plain STRtree answer: polygon per point, -1 where none (ties: smaller area)."""
    result = np.full(len(xs), -1, np.int64)
    pts, hit = tree.query(shapely.points(xs, ys), predicate=predicate)
    if len(pts):
        order = np.lexsort((hit, shapely.area(polys)[hit], pts))
        pts, hit = pts[order], hit[order]
        first = np.r_[True, pts[1:] != pts[:-1]]
        result[pts[first]] = hit[first]
    return result


def best_of(fn, repeat):
    best, value = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


def run_size(n: int, n_points: int, n_single: int, rng) -> dict:
    t = time.perf_counter()
    polys = voronoi_grids(n, rng)
    t_make = time.perf_counter() - t
    x0, y0, x1, y1 = BBOX
    pad = 0.01  # a margin outside every grid
    xs = rng.uniform(x0 - pad, x1 + pad, n_points)
    ys = rng.uniform(y0 - pad, y1 + pad, n_points)

    # Baseline: a plain STRtree (built once, as a process would keep it).
    t = time.perf_counter()
    tree = shapely.STRtree(polys)
    t_tree = time.perf_counter() - t
    t_base, base = best_of(lambda: strtree_reference(tree, polys, xs, ys, "intersects"), 1)

    t = time.perf_counter()
    index = GridIndex(polys)
    t_build = time.perf_counter() - t
    t_batch, got = best_of(lambda: index.locate_many(ys, xs), 3)

    # Exactness: the same as STRtree + contains; a point exactly on a border (contains is
    # false on both sides) is the only allowed difference, and GridIndex must then have
    # picked a polygon whose border it is.
    contains = strtree_reference(tree, polys, xs, ys, "within")
    differ = np.flatnonzero(got != contains)
    on_border = differ[(contains[differ] == -1) & (got[differ] >= 0)]
    on_border = on_border[shapely.intersects_xy(polys[got[on_border]], xs[on_border], ys[on_border])]
    identical = bool(len(differ) == len(on_border) and np.array_equal(got, base))

    single_x, single_y = xs[:n_single], ys[:n_single]
    times, answers = np.empty(n_single), np.empty(n_single, np.int64)
    clock = time.perf_counter
    for i in range(n_single):
        lat, lon = float(single_y[i]), float(single_x[i])
        t = clock()
        answers[i] = index.locate_one(lat, lon)
        times[i] = clock() - t
    single_identical = bool(np.array_equal(answers, got[:n_single]))
    base_times = np.empty(min(n_single, 5000))
    for i in range(len(base_times)):
        point = shapely.Point(float(single_x[i]), float(single_y[i]))
        t = clock()
        tree.query(point, predicate="intersects")
        base_times[i] = clock() - t

    result = {
        "grids": n,
        "points": n_points,
        "make_polygons_s": round(t_make, 2),
        "strtree_build_s": round(t_tree, 3),
        "index_build_s": round(t_build, 2),
        "index_cells": index.nx * index.ny,
        "index_mb": round(index.nbytes / 2**20, 1),
        "index_edge_cell_share": round(index.edge_share, 3),
        "index_disjoint": index.disjoint,
        "baseline_points_per_s": round(n_points / t_base),
        "batched_points_per_s": round(n_points / t_batch),
        "batched_ratio": round(t_base / t_batch, 1),
        "single_median_us": round(float(np.median(times)) * 1e6, 2),
        "single_p99_us": round(float(np.percentile(times, 99)) * 1e6, 2),
        "baseline_single_median_us": round(float(np.median(base_times)) * 1e6, 2),
        "single_ratio": round(float(np.median(base_times) / np.median(times)), 1),
        "found_share": round(float((got >= 0).mean()), 4),
        "identical_to_strtree_contains": identical and single_identical,
        "points_on_borders": int(len(on_border)),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per batch")
    parser.add_argument("--single", type=int, default=20_000, help="points timed one at a time")
    parser.add_argument("--sizes", default="20000,200000", help="grid counts, comma-separated")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"gridgov locate benchmark · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"numpy {np.__version__} · shapely {shapely.__version__} (GEOS {shapely.geos_version_string})")
    results = []
    for n in [int(v) for v in args.sizes.split(",")]:
        r = run_size(n, args.points, args.single, rng)
        results.append(r)
        print(f"\n{n:,} grids (index: {r['index_build_s']} s to build, {r['index_mb']} MB, {r['index_cells']:,} cells, "
              f"{r['index_edge_cell_share']:.0%} on borders; STRtree {r['strtree_build_s']} s)")
        print(f"  batched  {r['batched_points_per_s']:>12,} points/s   STRtree {r['baseline_points_per_s']:>10,} points/s"
              f"   ×{r['batched_ratio']}")
        print(f"  one      {r['single_median_us']:>12} µs median (p99 {r['single_p99_us']} µs)"
              f"   STRtree {r['baseline_single_median_us']} µs   ×{r['single_ratio']}")
        print(f"  answers identical to STRtree + contains: {r['identical_to_strtree_contains']}"
              f" ({r['found_share']:.1%} of points inside a grid, {r['points_on_borders']} exactly on a border)")
    big = max(results, key=lambda r: r["grids"])
    goals = {
        "batched_rate_goal_met": big["batched_points_per_s"] >= GOAL_RATE,
        "single_goal_met": big["single_median_us"] <= GOAL_SINGLE_US,
        "exact": all(r["identical_to_strtree_contains"] for r in results),
    }
    print(f"\ngoals over {big['grids']:,} grids: batched >= {GOAL_RATE:,}/s: {goals['batched_rate_goal_met']}; "
          f"one point <= {GOAL_SINGLE_US} µs: {goals['single_goal_met']}; exact: {goals['exact']}")
    print(json.dumps({"benchmark": "locate", "results": results, **goals}, ensure_ascii=False))
    return 0 if goals["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
