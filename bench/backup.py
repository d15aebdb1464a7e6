"""Benchmark: the backup and restore drill (R32, F10) — RTO and RPO while writes go on.

    .venv/bin/python bench/backup.py [--no-sqlite] [--no-postgres] [--pg-url postgres://postgres@127.0.0.1:5432/postgres]
                                     [--writes-before 150] [--tamper 20]

For each database (a SQLite file; a throwaway database on the PostgreSQL server, dropped
after) the harness migrates, builds the small world and starts the real app server. A
client keeps reporting cases over HTTP (with photos now and then) while `gridgov backup`
runs; the moment the backup file is complete is taken as the disaster. Then:

  restore   `gridgov restore` into a fresh SQLite file / a fresh PostgreSQL database,
            counts and SM3 digests compared with the manifest (exit status)
  RTO       seconds from the disaster to an app server answering from the restored copy:
            restore and verification + app start + the last restored case read over HTTP
  RPO       acknowledged reports missing from the restored copy (those acknowledged after
            the backup's snapshot), and the snapshot's age at the disaster in seconds;
            reports acknowledged before the backup started and missing would be a bug
  tamper    --tamper copies of the backup, each with one byte flipped at a random place:
            every restore must refuse (detection rate)

The drill's record is appended to var/drills/backup-drill.jsonl (evidence for assessors)
and printed; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child, with_throwaway_pg  # noqa: E402
from durability import AppServer, Client, _free_port  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
RTO_TARGET_S, RPO_TARGET = 300.0, 0


def gridgov(*args, env, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("gridgov")), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=check, timeout=1800)


def _numbers(url: str) -> set[str]:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):])
        try:
            return {r[0] for r in conn.execute("SELECT number FROM cases_case")}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT number FROM cases_case").fetchall()}


def drill(name: str, url: str, restore_url: str, folder: Path, args) -> dict:
    rng = random.Random(args.seed)
    key = secrets.token_hex(32)
    env = {**os.environ, "DATABASE_URL": url, "GRIDGOV_VAR_DIR": str(folder / "var"), "GRIDGOV_DEBUG": "0",
           "GRIDGOV_SECRET_KEY": secrets.token_hex(32), "GRIDGOV_ALLOWED_HOSTS": "127.0.0.1,localhost",
           "DJANGO_SETTINGS_MODULE": "gridgov.settings", "PYTHONPATH": str(ROOT), "GRIDGOV_BACKUP_KEY": key,
           "GRIDGOV_RATE_LIMITS": "off"}
    print(f"== {name}", flush=True)
    setup = run_child([str(ROOT / "bench" / "durability.py"), "--setup"], env)
    app = AppServer(env, _free_port())
    app.start()
    client = Client(app.port, setup["token"], setup["grid"], photo_share=0.2, seed=args.seed)
    acked_at: dict[str, float] = {}
    stop, counter = threading.Event(), iter(range(10**9))

    def writer():
        while not stop.is_set():
            op = client.op(next(counter))
            if client.send(op):
                acked_at[op["key"]] = time.monotonic()

    try:
        threads = [threading.Thread(target=writer) for _ in range(2)]
        for t in threads:
            t.start()
        while len(client.acked) < args.writes_before:
            time.sleep(0.05)
        out = folder / "drill.ggbk"
        backup_started = time.monotonic()
        with client.lock:
            acked_before_backup = set(client.acked)
        gridgov("backup", "--out", str(out), env=env)
        disaster = time.monotonic()
        with client.lock:
            acked_at_disaster = dict(client.acked)
        time.sleep(0.5)  # writes go on a little, as they would
        stop.set()
        for t in threads:
            t.join()
    finally:
        app.stop()
    backup_s = disaster - backup_started
    writes_during_backup = sum(1 for k, t in acked_at.items() if backup_started < t <= disaster)

    # --- restore, then serve from the restored copy -------------------------------------------
    t0 = time.monotonic()
    restore_env = {**env, "DATABASE_URL": restore_url, "GRIDGOV_VAR_DIR": str(folder / "var-restored")}
    restored = gridgov("restore", str(out), "--into", restore_url, "--media-into",
                       str(folder / "var-restored" / "media"), env=restore_env, check=False)
    restore_s = time.monotonic() - t0
    restore_ok = restored.returncode == 0
    print("  " + (restored.stdout.strip() or restored.stderr.strip()[-500:]), flush=True)
    numbers = _numbers(restore_url)
    last = max(acked_at_disaster.values(), key=lambda body: body["number"]) if acked_at_disaster else None
    served = AppServer(restore_env, _free_port())
    served.start()
    try:
        present = [b for b in acked_at_disaster.values() if b["number"] in numbers]
        newest = max(present, key=lambda b: b["number"]) if present else None
        from http.client import HTTPConnection

        conn = HTTPConnection("127.0.0.1", served.port, timeout=10)
        conn.request("GET", f"/api/cases/{newest['number']}", headers={"Authorization": f"Bearer {setup['token']}"})
        read_back = conn.getresponse().status == 200
    finally:
        served.stop()
    rto = time.monotonic() - t0
    missing = [k for k, b in acked_at_disaster.items() if b["number"] not in numbers]
    missing_before_backup = [k for k in missing if k in acked_before_backup]

    # --- tampering -------------------------------------------------------------------------------
    data = out.read_bytes()
    refused = 0
    for i in range(args.tamper):
        bad = bytearray(data)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        path = folder / f"tampered-{i}.ggbk"
        path.write_bytes(bytes(bad))
        target = (f"sqlite:///{folder / f'tampered-{i}.sqlite3'}" if name == "sqlite" else restore_url + f"_t{i}")
        result = gridgov("restore", str(path), "--into", target, env=restore_env, check=False)
        refused += int(result.returncode != 0 and ("tamper" in result.stderr or "corrupt" in result.stderr
                                                   or "not a gridgov backup" in result.stderr))
    record = {
        "engine": name, "backup_bytes": len(data), "backup_s": round(backup_s, 3), "writes_during_backup": writes_during_backup,
        "restore_ok": restore_ok, "restore_s": round(restore_s, 3), "rto_s": round(rto, 3), "read_back": read_back,
        "acknowledged_at_disaster": len(acked_at_disaster), "rpo_missing": len(missing),
        "missing_acked_before_backup": len(missing_before_backup), "rows_restored_cases": len(numbers),
        "tampered": args.tamper, "tamper_refused": refused,
        "tamper_detection_rate": round(refused / args.tamper, 3) if args.tamper else None,
        "last_acknowledged": last["number"] if last else None,
    }
    print(f"  backup {backup_s:.2f} s ({len(data):,} bytes) with {writes_during_backup} reports acknowledged meanwhile; "
          f"restore+verify {restore_s:.2f} s; RTO {rto:.2f} s; RPO {len(missing)} acknowledged reports missing "
          f"({len(missing_before_backup)} of them acknowledged before the backup began); "
          f"tampered copies refused {refused}/{args.tamper}", flush=True)
    return record


def _drop_pg(url: str, names: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for n in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--writes-before", type=int, default=150)
    parser.add_argument("--tamper", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (1 <= args.writes_before <= 100000 and 0 <= args.tamper <= 1000):
        parser.error("--writes-before 1..100000, --tamper 0..1000")
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-backup-drill-") as tmp:
        if not args.no_sqlite:
            folder = Path(tmp) / "sqlite"
            folder.mkdir()
            results["sqlite"] = drill("sqlite", f"sqlite:///{folder / 'live.sqlite3'}",
                                      f"sqlite:///{folder / 'restored.sqlite3'}", folder, args)
        if not args.no_postgres:
            folder = Path(tmp) / "postgresql"
            folder.mkdir()

            def run(url):
                restore_url = url + "_restored"
                try:
                    return drill("postgresql", url, restore_url, folder, args)
                finally:
                    base = restore_url.rsplit("/", 1)[1]
                    _drop_pg(args.pg_url, [base, *(f"{base}_t{i}" for i in range(args.tamper))])

            results["postgresql"] = with_throwaway_pg(args.pg_url, run, prefix="gridgov_backup")
    ok = all(r["restore_ok"] and r["read_back"] and r["missing_acked_before_backup"] == 0 and r["rto_s"] <= RTO_TARGET_S
             and r["tamper_refused"] == r["tampered"] for r in results.values())
    print()
    print(f"{'summary':<34}" + "".join(f"{k:>14}" for k in results))
    for label, key in (("RTO s", "rto_s"), ("RPO: acknowledged missing", "rpo_missing"), ("backup s", "backup_s"),
                       ("writes during backup", "writes_during_backup"), ("restore + verify s", "restore_s"),
                       ("tampered refused", "tamper_refused")):
        print(f"{label:<34}" + "".join(f"{r[key]:>14}" for r in results.values()))
    print(f"drill: restores verified, tampering refused, RTO ≤ {RTO_TARGET_S:.0f} s:", "met" if ok else "NOT met",
          "(RPO > 0 is expected without WAL streaming: writes after the snapshot are not in the backup)")
    summary = {"benchmark": "backup", "goals_met": ok, "rto_target_s": RTO_TARGET_S, "cpus": os.cpu_count(),
               "loadavg": [round(x, 2) for x in os.getloadavg()], **results}
    log = ROOT / "var" / "drills"
    log.mkdir(parents=True, exist_ok=True)
    with (log / "backup-drill.jsonl").open("a") as f:
        f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **summary}, ensure_ascii=False) + "\n")
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
