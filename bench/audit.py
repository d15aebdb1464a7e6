"""Benchmark: audit records written per second by concurrent writers on PostgreSQL, hash-
chained (`gridgov.privacy.services.audit`) against a plain INSERT of the same row.

    .venv/bin/python bench/audit.py [--writers 1,4,16] [--seconds 4] [--rounds 2] [--chains 16] [--pg-url URL]

A child process migrates a throwaway database (created on --pg-url, dropped afterwards)
and makes `bench_audit_plain`, a copy of the audit table (same columns and indexes, no
chain). For each writer count W it forks W processes that each, for --seconds, run one
transaction per record: the baseline inserts the row into the copy with one INSERT
(what `audit()` did before the chain); the chained run calls `audit()`. Plain and chained
runs alternate, in both orders, so machine noise hits both. Figures: records/s for each, the chained/plain
ratio, how often a writer's head hint was stale (an extra read), statements per record
on the chained path (counted in-process), and `audit verify` over everything written.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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


def parent(args) -> int:
    with tempfile.TemporaryDirectory(prefix="gridgov-audit-") as tmp:
        def run(url):
            env = dict(os.environ)
            env.update(
                DATABASE_URL=url, GRIDGOV_VAR_DIR=str(Path(tmp) / "var"), GRIDGOV_DEBUG="0",
                GRIDGOV_SECRET_KEY=secrets.token_hex(32), GRIDGOV_AUDIT_KEY=secrets.token_hex(32),
                GRIDGOV_AUDIT_CHAINS=str(args.chains), DJANGO_SETTINGS_MODULE="gridgov.settings",
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            )
            return run_child([__file__, "--child", *sys.argv[1:]], env)

        result = with_throwaway_pg(args.pg_url, run, prefix="gridgov_bench_audit")
    print()
    print(f"{'writers':>8}{'plain rec/s':>14}{'chained rec/s':>15}{'ratio':>8}{'stale hints':>13}")
    for row in result["runs"]:
        print(f"{row['writers']:>8}{row['plain']:>14.0f}{row['chained']:>15.0f}{row['ratio']:>8.2f}{row['stale_share']:>12.1%}")
    print(f"statements per chained record (hint right): {result['statements_per_record']}; "
          f"verify: {result['verify']}; chains: {args.chains}; cpu cores: {os.cpu_count()}")
    print(json.dumps(result))
    return 0


# =============================================================== child: measures


def _plain_worker(seconds: float, start, out) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    connection.close()
    values_sql = (
        "INSERT INTO bench_audit_plain (at, actor_id, actor_name, actor_role, ip, request_id, user_agent, action, "
        "object_type, object_id, fields, purpose, result, data, chain, seq, prev_hash, hash) "
        "VALUES (%s, NULL, 'bench', 'grid_worker', '10.0.0.1', %s, 'bench', 'case.report', 'cases.case', %s, "
        "'[]'::jsonb, '', 'success', %s::jsonb, 0, %s, '', '')"
    )
    base = os.getpid() << 32
    n = 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(values_sql, [timezone.now(), f"r{n}", str(n), json.dumps({"number": f"N{n}", "to": "reported"}), base + n])
    out.put((n, 0))
    connection.close()


def _chained_worker(seconds: float, start, out) -> None:
    from django.db import connection, transaction

    from gridgov.privacy import chain
    from gridgov.privacy.services import audit

    connection.close()
    chain.forget_heads()
    stale = [0]
    real_head = chain._head

    def counting_head(*a):
        stale[0] += 1
        return real_head(*a)

    chain._head = counting_head
    n = 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        with transaction.atomic():
            audit(actor=None, action="case.report", object_type="cases.case", object_id=str(n),
                  data={"number": f"N{n}", "to": "reported"})
    out.put((n, max(stale[0] - 1, 0)))  # the first read of each process is not a stale hint
    connection.close()


def _run(target, writers: int, seconds: float) -> tuple[float, int, int]:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(seconds, start, out)) for _ in range(writers)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    total = sum(r[0] for r in results)
    return total / max(elapsed, seconds), total, sum(r[1] for r in results)


def child(args) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gridgov.privacy import chain
    from gridgov.privacy.services import audit

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_audit_plain (LIKE privacy_auditrecord INCLUDING ALL)")
    audit(actor=None, action="bench.start", object_type="t", object_id="0")
    with CaptureQueriesContext(connection) as queries:
        audit(actor=None, action="bench.count", object_type="t", object_id="1")
    statements = len(queries)
    connection.close()

    runs = []
    for writers in [int(w) for w in args.writers.split(",")]:
        # Rounds alternate the order (plain first, then chained first) so drift hits both alike.
        plain_rates, chained_rates, n, stale = [], [], 0, 0
        for rnd in range(args.rounds):
            order = ("plain", "chained") if rnd % 2 == 0 else ("chained", "plain")
            for mode in order:
                if mode == "plain":
                    plain_rates.append(_run(_plain_worker, writers, args.seconds)[0])
                else:
                    rate, done, misses = _run(_chained_worker, writers, args.seconds)
                    chained_rates.append(rate)
                    n, stale = n + done, stale + misses
        plain, chained = sum(plain_rates) / len(plain_rates), sum(chained_rates) / len(chained_rates)
        runs.append({"writers": writers, "plain": plain, "chained": chained, "ratio": chained / plain,
                     "stale_share": stale / max(n, 1)})
        print(f"W={writers}: plain {plain:.0f}/s, chained {chained:.0f}/s (×{chained / plain:.2f}), "
              f"stale hints {stale}/{n}", flush=True)
    t0 = time.perf_counter()
    report = chain.verify()
    verify_s = time.perf_counter() - t0
    print("RESULT " + json.dumps({
        "runs": runs, "statements_per_record": statements, "chains": args.chains,
        "verify": f"{'ok' if report.ok else 'BROKEN'} ({report.records} records in {verify_s:.1f} s)",
    }))
    return 0 if report.ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode per writer count, order alternating")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
