"""Benchmark: cases reported per second through the HTTP API, empty and with 1,000,000 stored.

    .venv/bin/python bench/intake.py [--postgres] [--no-sqlite] [--stored 1000000]
                                     [--requests 3000] [--workers N] [--concurrency N] [--profile 300]

For each database (a throwaway SQLite file in a temporary folder; with --postgres also a
throwaway database created on postgres://postgres@127.0.0.1:5432 and dropped afterwards)
a child process migrates, builds the small test world (tests.factories.build_world),
issues a bearer token for a grid worker and starts gunicorn (sync workers, DEBUG off) on
loopback. A thread pool of HTTP clients then drives a fixed number of requests at a fixed
concurrency (a closed loop, so the load is bounded) in four phases:

    empty:  GET /api/health (the baseline: the framework's floor), then POST /api/cases
    stored: the same two after bulk-inserting --stored cases with one INSERT … SELECT

Every report carries a point (WGS-84, or GCJ-02 for every third) inside one of the
world's grids; the server locates it, and the run checks that every case got its grid.
Figures: cases/s, median and p99 latency, the baseline's req/s and the ratio between
them, and the stored/empty ratio (no degradation means ≈ 1). With --profile N, N reports
also run in-process under cProfile (same database, Django's test client) and the top
functions and the SQL share are printed. The last line is one JSON object.

Goal: ≥ 300 cases/s on PostgreSQL with p99 ≤ 50 ms, and no degradation from 0 to
1,000,000 stored.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child, with_throwaway_pg  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
GOAL_RATE, GOAL_P99_MS = 300.0, 50.0


# =============================================================== parent: orchestrates


def parent(args) -> int:
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-intake-") as tmp:
        if not args.no_sqlite:
            results["sqlite"] = _run_child(args, _child_env(tmp, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", "sqlite", args))
        if args.postgres:
            results["postgresql"] = _with_throwaway_pg(
                args.pg_url, lambda url: _run_child(args, _child_env(tmp, url, "postgresql", args))
            )
    print()
    print(f"{'summary':<34}" + "".join(f"{k:>14}" for k in results))
    rows = [
        ("cases/s, empty table", "empty", "rate"),
        ("  p50 ms", "empty", "p50_ms"),
        ("  p99 ms", "empty", "p99_ms"),
        ("cases/s, stored", "stored", "rate"),
        ("  p50 ms", "stored", "p50_ms"),
        ("  p99 ms", "stored", "p99_ms"),
        ("health req/s (baseline), empty", "health_empty", "rate"),
        ("health req/s (baseline), stored", "health_stored", "rate"),
    ]
    for label, phase, key in rows:
        print(f"{label:<34}" + "".join(f"{r[phase][key]:>14.1f}" for r in results.values()))
    for name, r in results.items():
        print(
            f"{name}: {r['empty']['rate']:.0f} → {r['stored']['rate']:.0f} cases/s with {r['stored_cases']:,} stored "
            f"(×{r['stored_over_empty']:.2f}); intake is {r['intake_over_health']:.2f} of the health baseline's req/s; "
            f"{r['workers']} workers, concurrency {r['concurrency']}"
        )
    pg = results.get("postgresql")
    goals = None
    if pg is not None:
        goals = (
            min(pg["empty"]["rate"], pg["stored"]["rate"]) >= GOAL_RATE
            and max(pg["empty"]["p99_ms"], pg["stored"]["p99_ms"]) <= GOAL_P99_MS
            and pg["stored_over_empty"] >= 0.9
        )
        print(f"goals on PostgreSQL (≥ {GOAL_RATE:.0f} cases/s, p99 ≤ {GOAL_P99_MS:.0f} ms, no degradation):",
              "met" if goals else "NOT met")
    # Client, server and database share this machine's CPUs; a busy machine lowers every figure.
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    print(json.dumps({"benchmark": "intake", "stored": args.stored, "requests": args.requests, "goals_met": goals,
                      "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in load], **results}))
    return 0


def _child_env(tmp: str, url: str, name: str, args) -> dict:
    env = dict(os.environ)
    # One client, one token, thousands of reports a minute: the rate limiter still counts
    # every request (its cost is part of the figure) but with limits no run reaches.
    if args.rate_limits == "raised":
        env.update(GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_IP="1000000000/m", GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_USER="1000000000/m")
    else:
        env.update(GRIDGOV_RATE_LIMITS="off")
    env.update(
        DATABASE_URL=url,
        GRIDGOV_VAR_DIR=str(Path(tmp) / f"var-{name}"),
        GRIDGOV_DEBUG="0",
        GRIDGOV_SECRET_KEY=secrets.token_hex(32),
        # Ephemeral master and blind-index keys (DEBUG off refuses to run without keys).
        GRIDGOV_MASTER_KEYS="1:" + base64.b64encode(os.urandom(32)).decode(),
        GRIDGOV_BLIND_INDEX_KEY=base64.b64encode(os.urandom(32)).decode(),
        GRIDGOV_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="gridgov.settings",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _run_child(args, env) -> dict:
    return run_child([__file__, "--child", *sys.argv[1:]], env)


def _with_throwaway_pg(url: str, run):
    return with_throwaway_pg(url, run, prefix="gridgov_intake")


# =============================================================== child: one database


def child(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from gridgov.accounts.services import issue_token
    from tests.factories import build_world

    vendor = connection.vendor
    workers = args.workers or min(2 * (os.cpu_count() or 1) + 1, 17)
    concurrency = args.concurrency or workers
    print(f"== {vendor}: {args.requests:,} reports per phase, {workers} gunicorn workers, concurrency {concurrency}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    world = build_world()
    token = issue_token(actor=None, user=world.users["worker"], name="bench")[1]
    print(f"migrate and world: {time.perf_counter() - t:.1f} s", flush=True)
    connection.close()

    port = _free_port()
    server = _start_gunicorn(port, workers, args.wsgi)
    try:
        points = _points(world)
        db_name = connection.settings_dict["NAME"] if vendor == "postgresql" else None
        client = Client(port, token, CpuMeter(server.pid, db_name))
        client.drive(client.report_request(points), n=max(4 * workers, 50), concurrency=concurrency)  # warm every worker
        result = {"vendor": vendor, "workers": workers, "concurrency": concurrency}
        result["health_empty"] = client.phase("health, empty", client.health_request(), args.health_requests, concurrency)
        result["empty"] = client.phase("intake, empty", client.report_request(points), args.requests, concurrency)
        t = time.perf_counter()
        stored = bulk_insert(connection, world, args.stored)
        result["bulk_insert_s"] = round(time.perf_counter() - t, 1)
        print(f"bulk-inserted {args.stored:,} cases in {result['bulk_insert_s']} s ({stored:,} stored)", flush=True)
        result["stored_cases"] = stored
        result["health_stored"] = client.phase("health, stored", client.health_request(), args.health_requests, concurrency)
        result["stored"] = client.phase("intake, stored", client.report_request(points), args.requests, concurrency)
        result["list_stored"] = client.phase("list first page, stored (info)", client.list_request(), 30, min(concurrency, 2))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["stored_over_empty"] = round(result["stored"]["rate"] / result["empty"]["rate"], 3)
    result["intake_over_health"] = round(result["empty"]["rate"] / result["health_empty"]["rate"], 3)
    _check_located(connection)
    if args.profile:
        result["profile"] = profile(args.profile, world)
    print("RESULT " + json.dumps(result), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(port: int, workers: int, app: str) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "sync", "--backlog", "2048", "--log-level", "warning", "--timeout", "60",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def _points(world) -> list[tuple[float, float, str]]:
    """Points well inside the world's grids; every third given in GCJ-02 as Amap reports it."""
    from gridgov.places import geo

    rng = random.Random(7)
    points = []
    for i in range(5000):
        grid = world.grids[i % len(world.grids)]
        lon0, lat0 = grid.min_lon, grid.min_lat
        lon = lon0 + 0.001 + rng.random() * (grid.max_lon - lon0 - 0.002)
        lat = lat0 + 0.001 + rng.random() * (grid.max_lat - lat0 - 0.002)
        if i % 3 == 2:
            lat, lon = geo.wgs84_to_gcj02(lat, lon)
            points.append((lat, lon, "gcj02"))
        else:
            points.append((lat, lon, "wgs84"))
    return points


def _check_located(connection) -> None:
    from gridgov.cases.models import Case

    connection.close()
    reported = Case.objects.exclude(number__startswith="H")
    unlocated = reported.filter(grid__isnull=True).count()
    total = reported.count()
    print(f"reported over HTTP: {total:,} cases, {unlocated} without a grid", flush=True)
    if unlocated:
        raise SystemExit("some reports were not located to a grid")


# =============================================================== the load


class CpuMeter:
    """CPU seconds used by the gunicorn workers, the PostgreSQL backends serving this
    database, and this (client) process: on a shared machine, the cost per request is a
    steadier figure than the rate. Linux /proc only; elsewhere it reads zeros."""

    def __init__(self, server_pid: int, pg_database: str | None):
        self.server_pid, self.pg_database = server_pid, pg_database
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _stat_seconds(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def _app_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children").read_text().split()
        except OSError:
            return []
        return [self.server_pid, *map(int, children)]

    def _db_pids(self) -> list[int]:
        if not self.pg_database:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if cmdline.startswith(b"postgres: ") and f" {self.pg_database} ".encode() in cmdline:
                    pids.append(int(entry.name))
        return pids

    def snapshot(self) -> dict:
        return {
            "app": {pid: self._stat_seconds(pid) for pid in self._app_pids()},
            "db": {pid: self._stat_seconds(pid) for pid in self._db_pids()},
            "client": time.process_time(),
        }

    def watch_db(self, stop: threading.Event, seen: dict) -> None:
        """Backends come and go (Django reconnects after CONN_MAX_AGE): keep the last CPU
        figure of each one seen, sampled every 0.2 s."""
        while not stop.wait(0.2):
            for pid in self._db_pids():
                seen[pid] = self._stat_seconds(pid)

    @staticmethod
    def used(before: dict, after: dict) -> dict:
        def delta(kind):
            return sum(v - before[kind].get(pid, 0.0) for pid, v in after[kind].items())

        return {"app": delta("app"), "db": delta("db"), "client": after["client"] - before["client"]}


class Client:
    """Closed-loop load: `concurrency` threads, each sending its next request when the last
    one answered, until `n` requests are done (or the time limit passes)."""

    def __init__(self, port: int, token: str, meter: CpuMeter, time_limit: float = 120.0):
        self.port, self.token, self.meter, self.time_limit = port, token, meter, time_limit

    def health_request(self):
        return lambda i: ("GET", "/api/health", None, {})

    def list_request(self):
        return lambda i: ("GET", "/api/cases?limit=20", None, {"Authorization": f"Bearer {self.token}"})

    def report_request(self, points):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

        def make(i):
            lat, lon, crs = points[i % len(points)]
            body = {
                "channel": "patrol", "title": f"路边暴露垃圾 {i}", "description": "绿化带内有生活垃圾堆放，约两袋。",
                "category": "0101", "urgency": "normal", "lat": lat, "lon": lon, "crs": crs,
                # A new caller every time: each report creates its reporter's data key (the worst case).
                "address": "金山路与江滨路交叉口东北角", "reporter_phone": f"138{i % 10**8:08d}",
            }
            return "POST", "/api/cases", json.dumps(body, ensure_ascii=False).encode(), headers

        return make

    def drive(self, make, *, n: int, concurrency: int) -> dict:
        lock = threading.Lock()
        counter = iter(range(n))
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + self.time_limit
        errors: list[str] = []

        def worker():
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                method, path, body, headers = make(i)
                t = time.perf_counter()
                try:
                    conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    content = response.read()
                    conn.close()
                    status = response.status
                except OSError as exc:
                    status, content = 0, str(exc).encode()
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status not in (200, 201) and len(errors) < 3:
                        errors.append(f"{status}: {content[:300]!r}")

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - start
        latencies.sort()
        ok = sum(v for k, v in statuses.items() if k in (200, 201))
        return {
            "requests": len(latencies), "ok": ok, "statuses": statuses, "seconds": round(wall, 2),
            "rate": ok / wall if wall else 0.0,
            "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0,
            "errors": errors,
        }

    def phase(self, label: str, make, n: int, concurrency: int) -> dict:
        before = self.meter.snapshot()
        stop, seen = threading.Event(), dict(before["db"])
        watcher = threading.Thread(target=self.meter.watch_db, args=(stop, seen), daemon=True)
        watcher.start()
        r = self.drive(make, n=n, concurrency=concurrency)
        stop.set()
        watcher.join()
        after = self.meter.snapshot()
        after["db"] = {**seen, **after["db"]}
        cpu = CpuMeter.used(before, after)
        per = {k: round(v / max(r["ok"], 1) * 1000, 2) for k, v in cpu.items()}
        r["cpu_ms_per_request"] = per
        print(f"{label:<32} {r['ok']:>6,}/{r['requests']:,} ok in {r['seconds']:>6.2f} s: {r['rate']:>7.1f}/s, "
              f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; CPU ms per request: app {per['app']:.1f}, "
              f"database {per['db']:.1f}, client {per['client']:.1f}", flush=True)
        for error in r["errors"]:
            print("   ", error, flush=True)
        if r["ok"] != n:
            raise SystemExit(f"{label}: {r['requests'] - r['ok']} requests failed, {n - r['requests']} not sent: {r['statuses']}")
        r["rate"], r["p50_ms"], r["p99_ms"] = round(r["rate"], 1), round(r["p50_ms"], 2), round(r["p99_ms"], 2)
        del r["errors"]
        return r


# =============================================================== stored cases


def bulk_insert(connection, world, total: int) -> int:
    """Insert `total` historical cases with one INSERT … SELECT over a generated series:
    95 % closed, spread over two years, the world's grids and categories."""
    from django.db.models import NOT_PROVIDED

    from gridgov.cases.models import Case

    if total <= 0:
        return Case.objects.count()
    pg = connection.vendor == "postgresql"
    true, false = ("true", "false") if pg else ("1", "0")
    grids = world.grids
    cats = [world.cats["litter"], world.cats["ad"], world.cats["road"]]

    def pick(values: list[str], modulus_of: str = "x") -> str:
        return "CASE " + " ".join(f"WHEN {modulus_of} % {len(values)} = {i} THEN {v}" for i, v in enumerate(values)) + " END"

    def at(seconds_ago: str) -> str:
        if pg:
            return f"(now() - ({seconds_ago}) * INTERVAL '1 second')"
        return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({seconds_ago}) || ' seconds')"

    is_open = "(x % 20 = 0)"
    big_x = "x::bigint" if pg else "x"  # x × 7919 passes 2³¹ on PostgreSQL's int
    ago = f"(3600 + ({big_x} * 7919) % (730 * 86400))"
    overrides = {
        "number": "('H' || x)" if not pg else "('H' || x::text)",
        "channel": pick(["'patrol'", "'resident'", "'hotline'", "'video'"]),
        "title": "'历史案件'",
        "description": "'批量导入的历史案件'",
        "category": pick([str(c.pk) for c in cats], "(x / 4)"),
        "grid": pick([str(g.pk) for g in grids]),
        "region": pick([str(g.region_id) for g in grids]),
        "scope_path": pick([f"'{g.path}'" for g in grids]),
        "owner_region": pick([str(g.region.parent_id) for g in grids]),
        "lat": "24.905 + (x % 100) * 0.0001",
        "lon": "118.505 + (x % 400) * 0.0001",
        "status": f"CASE WHEN {is_open} THEN 'accepted' ELSE 'closed' END",
        "is_open": f"CASE WHEN {is_open} THEN {true} ELSE {false} END",
        "closure": f"CASE WHEN {is_open} THEN '' ELSE 'resolved' END",
        "reported_at": at(ago),
        "accepted_at": at(f"{ago} - 600"),
        "closed_at": f"CASE WHEN {is_open} THEN NULL ELSE {at(f'{ago} - 86400')} END",
        "due_at": at(f"{ago} - 3 * 86400"),
        "warn_at": at(f"{ago} - 2 * 86400"),
        "sla_state": f"CASE WHEN {is_open} THEN 'normal' ELSE 'none' END",
        "closed_on_time": f"CASE WHEN {is_open} THEN NULL ELSE {true} END",
        "created_at": at(ago),
        "updated_at": at(ago),
        "pi_uid": "gen_random_uuid()" if pg else "lower(hex(randomblob(16)))",
    }

    def sql_for(field) -> str:
        if field.name in overrides:
            return overrides[field.name]
        if field.null:
            return "NULL"
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
        raise SystemExit(f"bench/intake.py: no value for the required field Case.{field.name}; add it to bulk_insert")

    fields = [f for f in Case._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(sql_for(f) for f in fields)
    table = Case._meta.db_table
    with connection.cursor() as cursor:
        if pg:
            cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {values} FROM generate_series(1, {total}) AS x')
        else:
            series = f"WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {total}) "
            cursor.execute(f'{series}INSERT INTO "{table}" ({columns}) SELECT {values} FROM s')
        cursor.execute(f'ANALYZE "{table}"')
        if not pg:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        count = cursor.fetchone()[0]
    connection.close()
    return count


# =============================================================== where the time goes


def profile(n: int, world) -> dict:
    """Run `n` reports in-process under cProfile; print the top functions and the SQL share."""
    import cProfile
    import pstats

    from django.db import connection, reset_queries
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from gridgov.accounts.services import issue_token

    token = issue_token(actor=None, user=world.users["worker"], name="profile")[1]
    client = DjangoClient(headers={"Authorization": f"Bearer {token}"})
    points = _points(world)

    def post(i):
        lat, lon, crs = points[i % len(points)]
        body = {"channel": "patrol", "title": f"剖析 {i}", "category": "0101", "lat": lat, "lon": lon, "crs": crs}
        r = client.post("/api/cases", json.dumps(body), content_type="application/json", SERVER_NAME="127.0.0.1")
        assert r.status_code == 201, r.content[:300]

    for i in range(20):
        post(i)  # warm: spatial index, caches
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        t = time.perf_counter()
        for i in range(n):
            post(i)
        wall = time.perf_counter() - t
    sql_seconds = sum(float(q["time"]) for q in queries.captured_queries)
    per_request = len(queries.captured_queries) / n
    kinds: dict[str, int] = {}
    for q in queries.captured_queries[: int(per_request) + 1]:
        head = " ".join(q["sql"].split()[:4])[:70]
        kinds[head] = kinds.get(head, 0) + 1
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        post(n + i)
    prof.disable()
    print(f"\nprofile: {n} reports in-process: {wall / n * 1000:.2f} ms each, {per_request:.1f} SQL statements each, "
          f"SQL {sql_seconds / n * 1000:.2f} ms each ({sql_seconds / wall:.0%} of the time)")
    print("statements of one report:")
    for head, count in kinds.items():
        print(f"   {count} × {head}")
    stats = pstats.Stats(prof)
    print("where the time goes (under cProfile, which inflates Python time; shares are what matter):")
    total = _cumulative(stats, "django/test/client.py", "request") or 1.0
    for label, path, func in BREAKDOWN:
        seconds = _cumulative(stats, path, func)
        print(f"   {label:<52} {seconds / n * 1000:>7.2f} ms  {seconds / total:>5.0%}")
    stats.sort_stats("tottime").print_stats(12)
    return {"ms_per_report": round(wall / n * 1000, 2), "sql_statements": round(per_request, 1),
            "sql_ms": round(sql_seconds / n * 1000, 2)}


BREAKDOWN = [
    ("whole request (Django test client)", "django/test/client.py", "request"),
    ("  ninja operation (auth, parse, handler, render)", "ninja/operation.py", "run"),
    ("    authenticate the bearer token", "gridgov/accounts/services.py", "authenticate_token"),
    ("    parse and validate the JSON body", "gridgov/cases/schemas.py", "parse_body"),
    ("    look up the category", "gridgov/cases/api.py", "_category"),
    ("    services.report_case", "gridgov/cases/services/intake.py", "report_case"),
    ("      _place: convert, locate, read the grid", "gridgov/cases/services/intake.py", "_place"),
    ("        locate (version check + index)", "gridgov/places/locate.py", "locate"),
    ("      _ancestor_at: district and street (parent reads)", "gridgov/cases/services/_base.py", "_ancestor_at"),
    ("      numbering.next_number (counter upsert)", "gridgov/cases/numbering.py", "next_number"),
    ("      _record: timeline entry + audit record", "gridgov/cases/services/_base.py", "_record"),
    ("      commit (transaction.atomic exit)", "django/db/transaction.py", "__exit__"),
    ("    case_detail (timeline read, dict)", "gridgov/cases/api.py", "case_detail"),
    ("    render the response (pydantic + JSON)", "ninja/operation.py", "_result_to_response"),
    ("  all SQL round trips (psycopg/sqlite execute)", "django/db/backends/utils.py", "_execute"),
]


def _cumulative(stats, path: str, func: str) -> float:
    """Cumulative seconds of the outermost calls of a function (recursion counted once)."""
    return sum(ct for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
               if name == func and filename.replace("\\", "/").endswith(path))


# =============================================================== entry point


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="also measure a throwaway PostgreSQL database")
    parser.add_argument("--pg-url", default=os.environ.get("GRIDGOV_BENCH_PG", PG_URL))
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--stored", type=int, default=1_000_000, help="cases bulk-inserted before the second phase")
    parser.add_argument("--requests", type=int, default=3000, help="reports per phase")
    parser.add_argument("--health-requests", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default 2 × CPUs + 1)")
    parser.add_argument("--concurrency", type=int, default=0, help="client threads (default: the workers)")
    parser.add_argument("--wsgi", default="gridgov.wsgi", help="WSGI module to serve (to try a change)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N reports in-process")
    parser.add_argument("--rate-limits", choices=["raised", "off"], default="raised",
                        help="raised: counted but never reached (default); off: no limiter, to measure its cost")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
