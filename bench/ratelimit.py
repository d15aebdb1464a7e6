"""Benchmark: what the rate limiter adds to one request — one upsert of its counters.

    .venv/bin/python bench/ratelimit.py [--postgres] [--no-sqlite] [--checks 5000]

In a child process per database (a throwaway SQLite file; with --postgres a throwaway
PostgreSQL database), migrate, then time `ratelimit.check` for a case report (a per-address
and a per-token bucket, one statement) in a loop, against the same loop's time for a bare
`SELECT 1` round trip. Figures: microseconds per check, checks per second, and the share of
a request at the intake goal of 300 reports/s (3.3 ms each). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child, with_throwaway_pg  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def child(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import RequestFactory

    from gridgov.security import ratelimit

    call_command("migrate", verbosity=0)
    rule = next(r for r in ratelimit.rules() if r.scope == "case_report")
    factory = RequestFactory()
    requests = [factory.post("/api/cases", REMOTE_ADDR=f"10.0.{i % 200}.{i % 250}",
                             headers={"Authorization": f"Bearer ggv_{i % 50}"}) for i in range(args.checks)]
    for request in requests[:200]:  # warm up
        ratelimit.check(request, rule)
    with connection.cursor() as cursor:
        t = time.perf_counter()
        for _ in range(args.checks):
            cursor.execute("SELECT 1")
            cursor.fetchone()
        select_us = (time.perf_counter() - t) / args.checks * 1e6
    t = time.perf_counter()
    refused = sum(ratelimit.check(request, rule) is not None for request in requests)
    check_us = (time.perf_counter() - t) / args.checks * 1e6
    result = {"vendor": connection.vendor, "checks": args.checks, "check_us": round(check_us, 1),
              "checks_per_s": round(1e6 / check_us), "select1_us": round(select_us, 1),
              "share_of_3_3ms": round(check_us / 3333, 3), "refused": refused}
    print(f"{connection.vendor}: {check_us:.0f} µs per check ({1e6 / check_us:,.0f}/s), SELECT 1 {select_us:.0f} µs; "
          f"{100 * check_us / 3333:.1f}% of a request at 300 reports/s", flush=True)
    print("RESULT " + json.dumps(result), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--pg-url", default=os.environ.get("GRIDGOV_BENCH_PG", PG_URL))
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-ratelimit-") as tmp:
        def env_for(url: str, name: str) -> dict:
            env = dict(os.environ, DATABASE_URL=url, GRIDGOV_VAR_DIR=str(Path(tmp) / f"var-{name}"),
                       GRIDGOV_SECRET_KEY=secrets.token_hex(32), DJANGO_SETTINGS_MODULE="gridgov.settings",
                       GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_IP="1000000000/m", GRIDGOV_RATE_LIMIT_CASE_REPORT_PER_USER="1000000000/m",
                       PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
            env.pop("GRIDGOV_RATE_LIMITS", None)
            return env

        cmd = [__file__, "--child", "--checks", str(args.checks)]
        if not args.no_sqlite:
            results["sqlite"] = run_child(cmd, env_for(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", "sqlite"))
        if args.postgres:
            results["postgresql"] = with_throwaway_pg(args.pg_url, lambda url: run_child(cmd, env_for(url, "postgresql")),
                                                      prefix="gridgov_ratelimit")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
