"""Benchmark: the overdue list and the SLA sweep over 2,000,000 cases, 100,000 of them open.

    .venv/bin/python bench/deadlines.py [--cases 2000000] [--open 100000] [--sqlite-only]

Always measures a throwaway SQLite database in a temporary folder; if DATABASE_URL points
to PostgreSQL it also measures a throwaway database created on that server (and dropped
afterwards). Each database runs in a child process (Django is set up once per process).

Data: cases are bulk-inserted with one INSERT … SELECT over a generated series (the
non-unique indexes are dropped during the load and rebuilt after it, then ANALYZE).
The 100 000 open cases are the most recent rows, as in real use (``--layout spread``
makes every 20th row open instead: the worst case, each open case on its own page, so
a sweep dirties one page per transition); open deadlines are spread evenly over
[now − 3 days, now + 27 days) with the warning one day before the deadline, so about
10 % of the open cases are overdue. Their ``sla_state`` is what a sweep two days ago
left, so the first sweep has a two-day backlog of transitions to write (≈ 6.7 k overdue
+ 3.3 k warning, each with a timeline entry); the second sweep, a minute later, is the
steady state (what ``gridgov worker`` runs every minute); the third finds nothing to do.
The three are repeated after putting the states back ("after churn": the table has
free space from the updates, as a table in use has). Cases have no category, so no
escalation is attempted (one service call per newly overdue case, measured by the
cases services, not here).

Measured: ``overdue_cases(now=…)[:50]`` (first page) and ``overdue_count(now=…)``
(median of --repeat runs), the sweeps (single runs), ``compute_deadlines`` per case.
On PostgreSQL the count is also measured before VACUUM (empty visibility map), with
``overdue_count()`` and with a plain ``.count()``, then VACUUM ANALYZE runs (what
autovacuum does after a bulk load).

Goals: overdue list (first page of 50, and the count) ≤ 10 ms; sweep ≤ 1 s. The
baseline is the same list query with its index unavailable (SQLite ``NOT INDEXED``,
PostgreSQL with index scans disabled), measured in the same run. The last line of the
output is one JSON object with all figures.
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


# =============================================================== parent: orchestrates


def parent(args) -> int:
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as tmp:
        env = _child_env(tmp, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        results["sqlite"] = _run_child(args, env)
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://")) and not args.sqlite_only:
            results["postgresql"] = _with_throwaway_pg(url, lambda bench_url: _run_child(args, _child_env(tmp, bench_url)))
    print()
    print("summary (median ms)                 " + "  ".join(f"{k:>12}" for k in results))
    rows = [
        ("overdue list, first 50", "list_first_page_ms"),
        ("overdue list, count", "list_count_ms"),
        ("  count before VACUUM (pg)", "list_count_before_vacuum_ms"),
        ("  plain .count() before VACUUM (pg)", "plain_count_before_vacuum_ms"),
        ("same first page, no index", "baseline_first_page_ms"),
        ("same count, no index", "baseline_count_ms"),
        ("sweep, 2-day backlog", "sweep_backlog_ms"),
        ("sweep, steady (1 min later)", "sweep_steady_ms"),
        ("sweep, nothing to do", "sweep_idempotent_ms"),
        ("after churn: backlog", "churned_sweep_backlog_ms"),
        ("after churn: steady", "churned_sweep_steady_ms"),
        ("after churn: nothing to do", "churned_sweep_idempotent_ms"),
        ("compute_deadlines, µs per case", "compute_deadlines_us"),
    ]
    for label, key in rows:
        print(f"{label:<36}" + "  ".join(f"{r.get(key, float('nan')):>12.2f}" for r in results.values()))
    goals = {
        f"{name}:{goal}": value <= limit
        for name, r in results.items()
        for goal, value, limit in (
            ("list_first_page<=10ms", r["list_first_page_ms"], 10),
            ("list_count<=10ms", r["list_count_ms"], 10),
            ("steady_sweep<=1s", r["sweep_steady_ms"], 1000),
            ("backlog_sweep<=1s", r["sweep_backlog_ms"], 1000),
        )
    }
    ok = all(goals.values())
    for name, r in results.items():
        print(
            f"{name}: first page {r['list_first_page_ms']:.2f} ms vs {r['baseline_first_page_ms']:.1f} ms without index "
            f"(×{r['ratio_first_page']:.0f}); count {r['list_count_ms']:.2f} ms (×{r['ratio_count']:.0f}); "
            f"sweep {r['sweep_backlog_ms']:.0f} ms for a backlog of {r['sweep_backlog_transitions']:,} transitions, "
            f"{r['sweep_steady_ms']:.0f} ms steady"
        )
    print("goals:", ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals.items()))
    print(json.dumps({"benchmark": "deadlines", "cases": args.cases, "open": args.open, "layout": args.layout, "goals_met": ok, "goals": goals, **results}))
    return 0 if ok else 1


def _child_env(tmp: str, url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        GRIDGOV_VAR_DIR=str(Path(tmp) / "var"),
        GRIDGOV_DEBUG="0",  # DEBUG would keep every query in memory
        GRIDGOV_SECRET_KEY=secrets.token_hex(32),
        DJANGO_SETTINGS_MODULE="gridgov.settings",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _run_child(args, env) -> dict:
    return run_child([
        __file__, "--child", "--cases", str(args.cases), "--open", str(args.open),
        "--repeat", str(args.repeat), "--layout", args.layout,
    ], env)


def _with_throwaway_pg(url: str, run):
    return with_throwaway_pg(url, run, prefix="gridgov_bench")


# =============================================================== child: one database


def child(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    vendor = connection.vendor
    print(f"== {vendor}: {args.cases:,} cases, {args.open:,} open ({args.layout} layout)", flush=True)
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - t:.1f} s", flush=True)

    from gridgov.places.models import Region

    region = Region.objects.create(code="350502001001", name="基准社区", level="community")
    t = time.perf_counter()
    load_cases(connection, region, args.cases, args.open, args.layout)
    print(f"loaded {args.cases:,} cases in {time.perf_counter() - t:.1f} s", flush=True)
    result = measure(connection, args)
    print("RESULT " + json.dumps(result), flush=True)


def _field_sql(field, vendor: str, region, total: int, open_count: int, layout: str) -> str:
    """A SQL expression for one Case column, in terms of the series variable x."""
    pg = vendor == "postgresql"
    true, false = ("true", "false") if pg else ("1", "0")
    if layout == "spread":  # every n-th row open, all through the table
        step = max(1, total // open_count)
        is_open, k = f"(x % {step} = 0)", f"(x / {step})"
    else:  # the most recent rows are the open ones
        is_open, k = f"(x > {total - open_count})", f"(x - {total - open_count + 1})"
    # seconds from now of an open case's deadline: spread over [-3 d, +27 d)
    offset = f"(({k} * 7919) % {30 * DAY} - {3 * DAY})"
    # seconds from now of a closed case's report: spread over two years back
    past = f"(20 * {DAY} + (x * 37) % {730 * DAY})"

    def at(seconds_expr: str) -> str:
        if pg:
            return f"(TIMESTAMPTZ '{NOW_UTC}+00' + ({seconds_expr}) * INTERVAL '1 second')"
        return f"datetime('{NOW_UTC}', ({seconds_expr}) || ' seconds')"

    due_open, due_closed = at(offset), at(f"-{past} + {5 * DAY}")
    overrides = {
        "number": "('B' || x)" if not pg else "('B' || x::text)",
        "channel": "'patrol'",
        "title": "'基准案件'",
        "region": str(region.pk),
        "owner_region": str(region.pk),
        "scope_path": f"'{region.path}'",
        "status": f"CASE WHEN {is_open} THEN 'dispatched' ELSE 'closed' END",
        "is_open": f"CASE WHEN {is_open} THEN {true} ELSE {false} END",
        "closure": f"CASE WHEN {is_open} THEN '' ELSE 'resolved' END",
        "reported_at": f"CASE WHEN {is_open} THEN {at(offset + f' - {7 * DAY}')} ELSE {at('-' + past)} END",
        "closed_at": f"CASE WHEN {is_open} THEN NULL ELSE {at(f'-{past} + {2 * DAY}')} END",
        "due_at": f"CASE WHEN {is_open} THEN {due_open} ELSE {due_closed} END",
        "warn_at": f"CASE WHEN {is_open} THEN {at(offset + f' - {DAY}')} ELSE {at(f'-{past} + {4 * DAY}')} END",
        # what a sweep two days ago left behind
        "sla_state": (
            f"CASE WHEN NOT {is_open} THEN 'normal' WHEN {offset} <= -{2 * DAY} THEN 'overdue' "
            f"WHEN {offset} <= -{DAY} THEN 'warning' ELSE 'normal' END"
        ),
        "closed_on_time": f"CASE WHEN {is_open} THEN NULL ELSE {true} END",
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
    internal = field.get_internal_type()
    if internal in {"CharField", "TextField", "SlugField", "EmailField"}:
        return "''"
    if internal == "JSONField":
        return "'{}'"
    raise SystemExit(f"bench/deadlines.py: no value for the new required field Case.{name}; add it to _field_sql")


def load_cases(connection, region, total: int, open_count: int, layout: str = "recent") -> None:
    from gridgov.cases.models import Case

    vendor = connection.vendor
    fields = [f for f in Case._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(_field_sql(f, vendor, region, total, open_count, layout) for f in fields)
    table = Case._meta.db_table
    with connection.cursor() as cursor:
        dropped = _drop_plain_indexes(cursor, vendor, table)
        if vendor == "sqlite":
            cursor.execute("PRAGMA synchronous = OFF")
            series = f"WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {total}) "
            cursor.execute(f'{series}INSERT INTO "{table}" ({columns}) SELECT {values} FROM s')
        else:
            cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {values} FROM generate_series(1, {total}) AS x')
        t = time.perf_counter()
        for sql in dropped:
            cursor.execute(sql)
        print(f"rebuilt {len(dropped)} indexes in {time.perf_counter() - t:.1f} s", flush=True)
        cursor.execute("ANALYZE")
        if vendor == "sqlite":
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f'SELECT COUNT(*), SUM(CASE WHEN is_open THEN 1 ELSE 0 END) FROM "{table}"')
        count, opened = cursor.fetchone()
    assert count == total and opened in (open_count, total // max(1, total // open_count)), (count, opened)


def _drop_plain_indexes(cursor, vendor: str, table: str) -> list[str]:
    """Drop the table's indexes that do not back a constraint; return their CREATE statements."""
    if vendor == "sqlite":
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", [table]
        )
        rows = cursor.fetchall()
    else:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _vacuum(connection) -> None:
    """What autovacuum would have done by now (PostgreSQL: visibility map and statistics)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(connection, args) -> dict:
    import datetime as dt

    from django.db import transaction

    from gridgov.cases import sla
    from gridgov.cases.models import Case, TimelineEntry

    now = dt.datetime.fromisoformat(NOW_UTC).replace(tzinfo=dt.UTC)
    out: dict = {"vendor": connection.vendor}

    # ---- the overdue list (before the sweep: the list reads due_at, not sla_state)
    qs = sla.overdue_cases(now=now)
    page = list(qs[:50])
    assert len(page) == 50 and all(c.due_at <= now and c.is_open for c in page)
    assert [c.due_at for c in page] == sorted(c.due_at for c in page)
    out["overdue_total"] = qs.count()
    assert sla.overdue_count(now=now) == out["overdue_total"]
    if connection.vendor == "postgresql":
        # Right after the bulk load the visibility map is empty: the count must visit the heap.
        out["list_count_before_vacuum_ms"] = _median_ms(lambda: sla.overdue_count(now=now), 5)
        out["plain_count_before_vacuum_ms"] = _median_ms(lambda: qs.count(), 5)
        print(
            f"before VACUUM: overdue_count() {out['list_count_before_vacuum_ms']:.1f} ms, "
            f"plain .count() {out['plain_count_before_vacuum_ms']:.1f} ms",
            flush=True,
        )
        _vacuum(connection)
    out["list_first_page_ms"] = _median_ms(lambda: list(qs[:50]), args.repeat)
    out["list_count_ms"] = _median_ms(lambda: sla.overdue_count(now=now), args.repeat)
    out["plan_first_page"] = qs[:50].explain().replace("\n", " | ")

    sql, params = qs[:50].query.sql_with_params()
    id_sql, count_params = qs.order_by().values("id").query.sql_with_params()
    count_sql = f"SELECT COUNT(*) FROM ({id_sql}) sub"
    table = Case._meta.db_table

    def run_unindexed(statement, parameters):
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                statement = statement.replace(f'FROM "{table}"', f'FROM "{table}" NOT INDEXED')
            else:
                for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                    cursor.execute(f"SET LOCAL {setting} = off")
            cursor.execute(statement, parameters)
            return cursor.fetchall()

    baseline_page = run_unindexed(sql, params)
    assert [r[0] for r in baseline_page] == [c.pk for c in page], "baseline returns a different page"
    assert run_unindexed(count_sql, count_params)[0][0] == out["overdue_total"]
    baseline_repeat = max(3, args.repeat // 10)
    out["baseline_first_page_ms"] = _median_ms(lambda: run_unindexed(sql, params), baseline_repeat)
    out["baseline_count_ms"] = _median_ms(lambda: run_unindexed(count_sql, count_params), baseline_repeat)
    out["ratio_first_page"] = out["baseline_first_page_ms"] / out["list_first_page_ms"]
    out["ratio_count"] = out["baseline_count_ms"] / out["list_count_ms"]
    print(
        f"overdue list: {out['overdue_total']:,} overdue; first page {out['list_first_page_ms']:.2f} ms, "
        f"count {out['list_count_ms']:.2f} ms; without index {out['baseline_first_page_ms']:.1f} ms / "
        f"{out['baseline_count_ms']:.1f} ms (×{out['ratio_first_page']:.0f} / ×{out['ratio_count']:.0f})",
        flush=True,
    )
    print(f"plan: {out['plan_first_page']}", flush=True)

    # ---- the sweep
    def timed_sweep(at):
        t = time.perf_counter()
        result = sla.sweep(now=at)
        return (time.perf_counter() - t) * 1000, result

    def sweep_round(label: str, prefix: str) -> None:
        out[f"{prefix}backlog_ms"], backlog = timed_sweep(now)
        out[f"{prefix}backlog_transitions"] = backlog["warning"] + backlog["overdue"]
        out[f"{prefix}steady_ms"], steady = timed_sweep(now + dt.timedelta(minutes=1))
        out[f"{prefix}steady_transitions"] = steady["warning"] + steady["overdue"]
        out[f"{prefix}idempotent_ms"], again = timed_sweep(now + dt.timedelta(minutes=1))
        assert again["warning"] == again["overdue"] == 0
        assert TimelineEntry.objects.count() == out[f"{prefix}backlog_transitions"] + out[f"{prefix}steady_transitions"]
        assert Case.objects.filter(is_open=True, due_at__lte=now).exclude(sla_state="overdue").count() == 0
        print(
            f"sweep{label}: backlog {out[f'{prefix}backlog_ms']:.0f} ms "
            f"({backlog['overdue']:,} overdue + {backlog['warning']:,} warning), "
            f"steady {out[f'{prefix}steady_ms']:.1f} ms ({out[f'{prefix}steady_transitions']} changes), "
            f"nothing to do {out[f'{prefix}idempotent_ms']:.1f} ms",
            flush=True,
        )

    def reset_states() -> None:
        """Put back the states a sweep two days ago left (only the rows that differ)."""
        t0 = now - dt.timedelta(days=2)
        with connection.cursor() as cursor:
            expected = (
                "CASE WHEN due_at <= %s THEN 'overdue' WHEN warn_at <= %s THEN 'warning' ELSE 'normal' END"
            )
            stamp = Case._meta.get_field("due_at").get_db_prep_save(t0, connection)
            cursor.execute(
                f"UPDATE {table} SET sla_state = {expected} WHERE is_open AND sla_state <> {expected}",
                [stamp, stamp, stamp, stamp],
            )
            cursor.execute(f"DELETE FROM {TimelineEntry._meta.db_table}")
        _vacuum(connection)

    sweep_round("", "sweep_")

    # The same after the table has seen updates (a fair reference for the next round).
    reset_states()
    sweep_round(" (again, after churn)", "churned_sweep_")


    # ---- the deadline arithmetic itself
    start = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
    n = 20000
    t = time.perf_counter()
    for i in range(n):
        sla.compute_deadlines(start + dt.timedelta(minutes=53 * i), 5, "working_days")
    out["compute_deadlines_us"] = (time.perf_counter() - t) / n * 1e6
    print(f"compute_deadlines (5 working days, due + warning): {out['compute_deadlines_us']:.1f} µs per case", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed repetitions per query (median)")
    parser.add_argument(
        "--layout", choices=["recent", "spread"], default="recent",
        help="open cases are the most recent rows (default) or every n-th row through the table (worst case)",
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.open <= 0 or args.open > args.cases:
        parser.error("--open must be between 1 and --cases")
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
