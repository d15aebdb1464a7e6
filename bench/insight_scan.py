"""Benchmark: hot spots and the early-warning scan over 1,000,000 cases.

    .venv/bin/python bench/insight_scan.py [--cases 1000000] [--grids 400] [--repeat 20] [--sqlite-only]

Always measures a throwaway SQLite database in a temporary folder; if DATABASE_URL points
to PostgreSQL it also measures a throwaway database created on that server (and dropped
afterwards). Each database runs in a child process.

Data: one city, 10 streets, 50 communities, ``--grids`` grids, 20 categories, 30
departments; cases bulk-inserted with one INSERT … SELECT over a generated series (as in
bench/deadlines.py: plain indexes dropped during the load, rebuilt, ANALYZE), reported
evenly over the two years before NOW. Grid and category follow fixed hash patterns
(every cell has cases), a third of the cases come from residents with an address and a
phone (a few addresses repeat), the newest 10 % are open with a department and a deadline
5 days after the report (so about 5 000 are overdue), one case in 997 has been escalated
twice. In the last 7 days one grid × category receives 1 case in 40 on top: a planted surge.

Measured (median of --repeat runs unless said):
  - rollup: the first full build (single run) and the scan's incremental refresh (7 days);
  - hot spots, 30-day window, ranked list with representatives: for a leader of the whole
    city and a street dispatcher, read through the rollup, and the same with the rollup
    switched off (every case of the window counted from the case table through the
    ``reported_at`` index — what a request would cost without the rollup);
  - the GeoJSON layer for the city leader;
  - the same default requests (30 days, now) served from the snapshot the scan leaves;
  - the scan with all six rules: first (raises), second (refreshes), dry run (single runs).
The last line is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child, with_throwaway_pg  # noqa: E402

NOW_UTC = "2026-03-04 02:00:00"  # 10:00 in Shanghai, a Wednesday
DAY = 86400
SPAN_DAYS = 730


# =============================================================== parent


def parent(args) -> int:
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as tmp:
        results["sqlite"] = _run_child(args, _child_env(tmp, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://")) and not args.sqlite_only:
            results["postgresql"] = with_throwaway_pg(
                url, lambda bench_url: _run_child(args, _child_env(tmp, bench_url)), prefix="gridgov_bench_insight")
    print()
    print("summary (ms)                              " + "  ".join(f"{k:>12}" for k in results))
    rows = [
        ("rollup: first full build", "rollup_build_ms"),
        ("rollup: incremental refresh (7 days)", "rollup_refresh_ms"),
        ("hot spots, city leader (rollup)", "hotspots_city_ms"),
        ("hot spots, city leader (no rollup)", "hotspots_city_live_ms"),
        ("hot spots, street dispatcher (rollup)", "hotspots_street_ms"),
        ("hot spots, street (no rollup)", "hotspots_street_live_ms"),
        ("map layer, city leader (rollup)", "map_city_ms"),
        ("hot spots, city leader (snapshot)", "snapshot_city_ms"),
        ("hot spots, street (snapshot)", "snapshot_street_ms"),
        ("map layer, city leader (snapshot)", "snapshot_map_ms"),
        ("snapshot refresh (in each scan)", "snapshot_refresh_ms"),
        ("scan: first (raises)", "scan_first_ms"),
        ("scan: again (refreshes)", "scan_again_ms"),
        ("scan: dry run", "scan_dry_ms"),
    ]
    for label, key in rows:
        print(f"{label:<42}" + "  ".join(f"{r.get(key, float('nan')):>12.1f}" for r in results.values()))
    goals = {
        f"{name}:{goal}": value <= limit
        for name, r in results.items()
        for goal, value, limit in (
            ("default_hotspots_city<=100ms", r["snapshot_city_ms"], 100),
            ("default_hotspots_street<=50ms", r["snapshot_street_ms"], 50),
            ("scan<=30s", r["scan_first_ms"], 30_000),
        )
    }
    for name, r in results.items():
        print(f"{name}: city hot spots {r['snapshot_city_ms']:.1f} ms from the snapshot, {r['hotspots_city_ms']:.1f} ms counted "
              f"through the rollup, {r['hotspots_city_live_ms']:.1f} ms counted from the case table "
              f"(×{r['hotspots_city_live_ms'] / r['snapshot_city_ms']:.0f}); scan {r['scan_first_ms'] / 1000:.1f} s, "
              f"{r['scan_fired']} fired {r['scan_by_rule']}")
    print("goals:", ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals.items()))
    print(json.dumps({"benchmark": "insight_scan", "cases": args.cases, "grids": args.grids, "goals": goals, **results}))
    return 0 if all(goals.values()) else 1


def _child_env(tmp: str, url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url, GRIDGOV_VAR_DIR=str(Path(tmp) / "var"), GRIDGOV_DEBUG="0",
        GRIDGOV_SECRET_KEY=secrets.token_hex(32), DJANGO_SETTINGS_MODULE="gridgov.settings",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _run_child(args, env) -> dict:
    return run_child([__file__, "--child", "--cases", str(args.cases), "--grids", str(args.grids),
                      "--repeat", str(args.repeat)], env)


# =============================================================== child


def child(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    print(f"== {connection.vendor}: {args.cases:,} cases, {args.grids} grids", flush=True)
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - t:.1f} s", flush=True)
    world = build_places(args.grids)
    t = time.perf_counter()
    load_cases(connection, world, args.cases)
    print(f"loaded {args.cases:,} cases in {time.perf_counter() - t:.1f} s", flush=True)
    result = measure(connection, world, args)
    print("RESULT " + json.dumps(result), flush=True)


def build_places(n_grids: int) -> dict:
    from gridgov.accounts.models import Role, User
    from gridgov.cases.models import Category, Department
    from gridgov.places.models import Grid, Region

    def box(lon, lat, d=0.005):
        return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]}

    city = Region.objects.create(code="350500", name="泉州市", level="city")
    district = Region.objects.create(code="350502", name="鲤城区", level="district", parent=city)
    streets = [Region.objects.create(code=f"350502{s:03d}", name=f"街道{s}", level="street", parent=district) for s in range(1, 11)]
    communities = [
        Region.objects.create(code=f"{streets[c // 5].code}{c % 5 + 1:03d}", name=f"社区{c}", level="community", parent=streets[c // 5])
        for c in range(50)
    ]
    grids = []
    for g in range(n_grids):
        comm = communities[g % 50]
        grids.append(Grid.objects.create(code=f"{comm.code}{g // 50 + 1:03d}", name=f"网格{g}", region=comm,
                                         geometry=box(118.5 + (g % 20) * 0.005, 24.9 + (g // 20) * 0.005)))
    cats = [Category.objects.create(code=f"{c + 1:02d}", name=f"分类{c + 1}") for c in range(20)]
    depts = [Department.objects.create(code=f"D{d}", name=f"部门{d}", region=streets[d % 10]) for d in range(30)]
    ids = sorted(g.pk for g in grids)
    assert ids == list(range(ids[0], ids[0] + n_grids)), "grid ids must be consecutive"
    return {
        "grid0": ids[0], "n_grids": n_grids, "cat0": min(c.pk for c in cats), "n_cats": len(cats),
        "dept0": min(d.pk for d in depts), "n_depts": len(depts),
        "leader": User.objects.create(username="leader", role=Role.LEADER, region=city),
        "dispatcher": User.objects.create(username="dispatcher", role=Role.DISPATCHER, region=streets[0]),
    }


def _case_values(field, pg: bool, n: int, world: dict) -> str:
    true, false = ("true", "false") if pg else ("1", "0")

    def at(seconds_expr: str) -> str:
        if pg:
            return f"(TIMESTAMPTZ '{NOW_UTC}+00' + ({seconds_expr}) * INTERVAL '1 second')"
        return f"datetime('{NOW_UTC}', ({seconds_expr}) || ' seconds')"

    step = SPAN_DAYS * DAY / n
    back = f"CAST(({n} - x) * {step:.6f} AS INTEGER) + 60"  # seconds before NOW of case x
    recent_open = f"(x > {n - n // 10})"
    resident = "(x % 3 = 0)"

    def text(expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    overrides = {
        "number": f"('B' || {text('x')})",
        "channel": f"CASE WHEN {resident} THEN 'hotline' ELSE 'patrol' END",
        "title": "'基准案件'",
        "category": "c.id",
        "grid": "g.id",
        "region": "g.region_id",
        "owner_region": "g.region_id",
        "scope_path": "g.path",
        "address": (f"CASE WHEN x % 10007 = 0 THEN '鲤城区重复路1号' WHEN {resident} THEN "
                    f"('鲤城区某路' || {text('(x * 7919) % 300000')} || '号') ELSE '' END"),
        "reporter_phone": f"CASE WHEN {resident} THEN ('138' || {text('(x * 7) % 90000000 + 10000000')}) ELSE '' END",
        "status": f"CASE WHEN {recent_open} THEN 'dispatched' ELSE 'closed' END",
        "is_open": f"CASE WHEN {recent_open} THEN {true} ELSE {false} END",
        "closure": f"CASE WHEN {recent_open} THEN '' ELSE 'resolved' END",
        "owner_department": f"CASE WHEN {recent_open} THEN {world['dept0']} + x % {world['n_depts']} ELSE NULL END",
        "reported_at": at(f"-({back})"),
        # open cases have long deadlines (70 days) so that about 4 % of them are overdue
        "due_at": f"CASE WHEN {recent_open} THEN {at(f'-({back}) + {70 * DAY}')} ELSE {at(f'-({back}) + {5 * DAY}')} END",
        "closed_at": f"CASE WHEN {recent_open} THEN NULL ELSE {at(f'-({back}) + {2 * DAY}')} END",
        "escalation_count": "CASE WHEN x % 997 = 0 THEN 2 ELSE 0 END",
        "sla_state": "'normal'",
        "created_at": at("0"),
        "updated_at": at("0"),
    }
    name = field.name
    if name in overrides:
        return overrides[name]
    if field.null:
        return "NULL"
    from django.db.models import NOT_PROVIDED

    default = field.default
    if default is not NOT_PROVIDED and not callable(default):
        if isinstance(default, bool):
            return true if default else false
        if isinstance(default, int | float):
            return str(default)
        if isinstance(default, str):
            return "'" + default.replace("'", "''") + "'"
    if field.get_internal_type() in {"CharField", "TextField"}:
        return "''"
    raise SystemExit(f"bench/insight_scan.py: no value for the required field Case.{name}")


def load_cases(connection, world: dict, n: int) -> None:
    from gridgov.cases.models import Case, Category
    from gridgov.places.models import Grid

    pg = connection.vendor == "postgresql"
    fields = [f for f in Case._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(_case_values(f, pg, n, world) for f in fields)
    week = int(7 * DAY / (SPAN_DAYS * DAY / n))
    surge = f"(x > {n - week} AND x % 40 = 0)"
    grid_ix = f"CASE WHEN {surge} THEN 5 ELSE (x * 7919) % {world['n_grids']} END"
    cat_ix = f"CASE WHEN {surge} THEN 3 ELSE ((x * 31) % 97) % {world['n_cats']} END"
    series = (f"generate_series(CAST(1 AS BIGINT), {n}) AS s(x)" if pg else "s")
    prefix = "" if pg else f"WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n}) "
    sql = (f'{prefix}INSERT INTO "{Case._meta.db_table}" ({columns}) SELECT {values} FROM {series} '
           f'JOIN "{Grid._meta.db_table}" g ON g.id = {world["grid0"]} + ({grid_ix}) '
           f'JOIN "{Category._meta.db_table}" c ON c.id = {world["cat0"]} + ({cat_ix})')
    with connection.cursor() as cursor:
        dropped = _drop_plain_indexes(cursor, pg, Case._meta.db_table)
        if not pg:
            cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute(sql)
        for statement in dropped:
            cursor.execute(statement)
        if pg:
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f'SELECT COUNT(*) FROM "{Case._meta.db_table}"')
        assert cursor.fetchone()[0] == n


def _drop_plain_indexes(cursor, pg: bool, table: str) -> list[str]:
    if pg:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)", [table, table])
    else:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", [table])
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _timed(fn):
    t = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t) * 1000, value


def measure(connection, world: dict, args) -> dict:
    import datetime as dt

    from gridgov.insight import hotspots, warnings
    from gridgov.insight.models import CaseDayCount, HotspotCell, RollupState

    now = dt.datetime.fromisoformat(NOW_UTC).replace(tzinfo=dt.UTC)
    out: dict = {"vendor": connection.vendor}
    leader, dispatcher = world["leader"], world["dispatcher"]

    # live counting first (no rollup yet): the cost of a request without it
    def city():
        return hotspots.hotspots(leader, days=30, at=now)

    def street():
        return hotspots.hotspots(dispatcher, days=30, at=now)

    live_city = city()
    out["hotspots_city_live_ms"] = _median_ms(city, max(3, args.repeat // 4))
    out["hotspots_street_live_ms"] = _median_ms(street, max(3, args.repeat // 4))

    out["rollup_build_ms"], built = _timed(lambda: hotspots.refresh_rollup(at=now))
    out["rollup_cells"] = CaseDayCount.objects.count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # what autovacuum does after a bulk write: statistics and the visibility map
            # (index-only scans of the covering index need it)
            cursor.execute("VACUUM ANALYZE insight_casedaycount")
    print(f"rollup: built {built['days']} days, {out['rollup_cells']:,} cells in {out['rollup_build_ms'] / 1000:.1f} s", flush=True)
    out["rollup_refresh_ms"], _ = _timed(lambda: hotspots.refresh_rollup(at=now))

    rolled_city = city()
    assert [(h.grid.pk, h.category.pk, h.count) for h in rolled_city[0]] == [
        (h.grid.pk, h.category.pk, h.count) for h in live_city[0]], "rollup and case table disagree"
    out["hotspots_city_ms"] = _median_ms(city, args.repeat)
    out["hotspots_street_ms"] = _median_ms(street, args.repeat)
    out["hotspots_window_cases"] = rolled_city[1]["cases"]
    top = rolled_city[0][0]
    out["top_hotspot"] = {"grid": top.grid.code, "category": top.category.code, "count": top.count, "previous": top.previous}
    out["map_city_ms"] = _median_ms(lambda: hotspots.grid_layer(leader, days=30, at=now), args.repeat)
    print(
        f"hot spots (30 days, {out['hotspots_window_cases']:,} cases): city {out['hotspots_city_ms']:.1f} ms "
        f"(no rollup {out['hotspots_city_live_ms']:.1f}), street {out['hotspots_street_ms']:.1f} ms "
        f"(no rollup {out['hotspots_street_live_ms']:.1f}); map {out['map_city_ms']:.1f} ms; top {out['top_hotspot']}",
        flush=True,
    )

    out["scan_dry_ms"], _ = _timed(lambda: warnings.scan(at=now, dry_run=True))
    out["scan_first_ms"], first = _timed(lambda: warnings.scan(at=now))
    out["scan_again_ms"], again = _timed(lambda: warnings.scan(at=now + dt.timedelta(minutes=15)))
    out["scan_fired"] = len(first.firings)
    out["scan_by_rule"] = {run.rule.code: len(run.firings) for run in first.runs}
    assert {f.outcome for f in first.firings} <= {"new"} and {f.outcome for f in again.firings} <= {"refreshed"}
    assert RollupState.objects.count() == 1
    print(f"scan: first {out['scan_first_ms']:.0f} ms ({out['scan_fired']} fired: {out['scan_by_rule']}), "
          f"again {out['scan_again_ms']:.0f} ms, dry run {out['scan_dry_ms']:.0f} ms", flush=True)

    # the default window asked for "now" is served from the scan's snapshot; the bench's
    # clock stands at NOW (15 minutes after the last scan)
    hotspots.timezone = _Clock(now + dt.timedelta(minutes=15))
    assert hotspots.hotspots(leader)[1]["source"] == "snapshot"
    snap = [(h.grid.pk, h.category.pk, h.count) for h in hotspots.hotspots(leader)[0]]
    counted = [(h.grid.pk, h.category.pk, h.count) for h in hotspots.hotspots(leader, at=now + dt.timedelta(minutes=15))[0]]
    assert snap == counted, "snapshot and counting disagree"
    out["snapshot_cells"] = HotspotCell.objects.count()
    out["snapshot_city_ms"] = _median_ms(lambda: hotspots.hotspots(leader), args.repeat)
    out["snapshot_street_ms"] = _median_ms(lambda: hotspots.hotspots(dispatcher), args.repeat)
    out["snapshot_map_ms"] = _median_ms(lambda: hotspots.grid_layer(leader), args.repeat)
    out["snapshot_refresh_ms"], _ = _timed(lambda: hotspots.refresh_snapshot(at=now))
    print(f"snapshot ({out['snapshot_cells']:,} cells, refreshed in {out['snapshot_refresh_ms']:.0f} ms): "
          f"city {out['snapshot_city_ms']:.1f} ms, street {out['snapshot_street_ms']:.1f} ms, map {out['snapshot_map_ms']:.1f} ms",
          flush=True)
    return out


class _Clock:
    """Stands in for django.utils.timezone inside gridgov.insight.hotspots: a fixed now."""

    def __init__(self, moment):
        self.moment = moment

    def now(self):
        return self.moment


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--grids", type=int, default=400)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--sqlite-only", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
