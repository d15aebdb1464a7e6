"""Benchmark: no acknowledged write lost under kill -9 (SECURITY.md §5.3, R31, F7, F8).

    .venv/bin/python bench/durability.py [--rounds 8] [--per-round 30] [--concurrency 4]
                                         [--no-sqlite] [--no-postgres] [--no-control] [--seed 1]

For each scenario the harness builds a fresh database — a SQLite file, or a PRIVATE
PostgreSQL cluster it initdb's (data checksums on) into a temporary folder and starts with
pg_ctl on a free loopback port (the shared server on 5432 is never touched) — migrates it,
builds the small test world, and starts the real app server (`gridgov serve`, gunicorn, 2
sync workers) on a free loopback port.

A client (threads) then sends case reports over HTTP, a share of them with a photo, each
with its own Idempotency-Key, and records every 201 it receives (the acknowledgement). In
every round, at a random moment, the harness SIGKILLs one of: the gunicorn workers, the
whole app server, the PostgreSQL postmaster with all its processes, or both; it restarts
what it killed (PostgreSQL runs WAL crash recovery) and the client retries everything not
acknowledged with the same key, until acknowledged (bounded attempts).

Then a verifier (Django, against the same database) checks:
  lost        acknowledged cases missing, or reading back differently: the detail answered
              now must have the same SM3 digest of canonical JSON as the 201 body
  duplicates  cases beyond one per idempotency key (titles carry the key)
  orphans     a case without its timeline entry or audit record, an idempotency row
              without its case, a photo row without its file, a file without its row
              (counted before `gridgov sweep-media`, which then removes such files)
  integrity   PRAGMA integrity_check (SQLite)

Scenarios: sqlite (kills: workers, app), postgresql with synchronous_commit=on (kills:
workers, app, db, both) and the control run, postgresql with synchronous_commit=off, where
losses are expected (SECURITY.md measured 419 of 55,170) — showing that the harness can see
a loss. Loops are bounded: rounds × per-round operations, 6 attempts per operation.
Prints figures per scenario and one JSON line at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.client import HTTPConnection, HTTPException
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child  # noqa: E402

ATTEMPTS = 6
PG_BIN_CANDIDATES = ["/usr/local/bin", *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin"))]


def _pg_bin(name: str) -> str:
    for folder in PG_BIN_CANDIDATES:
        path = Path(folder) / name
        if path.exists():
            return str(path)
    raise SystemExit(f"{name} not found")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _kill_tree(pid: int) -> int:
    """SIGKILL `pid` and its children (only processes this harness started); returns how many."""
    victims = [pid, *_children(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(victims)


# =============================================================== the private PostgreSQL


class PrivatePostgres:
    """A throwaway cluster in `folder`, run as the `postgres` OS user when we are root
    (initdb refuses root), listening on 127.0.0.1:`port` only."""

    def __init__(self, folder: Path, synchronous_commit: str):
        self.folder, self.data, self.port = folder, folder / "data", _free_port()
        self.synchronous_commit = synchronous_commit
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            os.chown(folder, _uid("postgres"), -1)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/gridgov"

    def init(self) -> None:
        subprocess.run([*self.as_user, _pg_bin("initdb"), "-k", "-A", "trust", "-U", "postgres", "-D", str(self.data)],
                       check=True, capture_output=True)

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
                   f"-c fsync=on -c full_page_writes=on -c synchronous_commit={self.synchronous_commit} "
                   f"-c max_connections=50 -c shared_buffers=32MB")
        subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "120",
                        "-o", options, "start"], check=True, capture_output=True)

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gridgov")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def crash(self) -> int:
        """SIGKILL the postmaster and every process of this cluster: no shutdown checkpoint."""
        pid = self.postmaster_pid()
        if pid is None:
            return 0
        killed = _kill_tree(pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in [pid, *_children(pid)]):
            time.sleep(0.05)
        return killed

    def stop(self) -> None:
        subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False)


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


# =============================================================== the app server


class AppServer:
    def __init__(self, env: dict, port: int):
        self.env, self.port, self.proc = env, port, None

    def start(self) -> None:
        # `gridgov serve` execs gunicorn: this pid is gunicorn's master.
        self.proc = subprocess.Popen([str(Path(sys.executable).with_name("gridgov")), "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--workers", "2"],
                                     env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the app server did not start")

    def kill_workers(self) -> int:
        return sum(_kill_tree(pid) for pid in _children(self.proc.pid))

    def kill(self) -> int:
        killed = _kill_tree(self.proc.pid)
        self.proc.wait(30)
        return killed

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


# =============================================================== the client


def _photo(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256)).save(buf, "JPEG")
    return buf.getvalue()


def _multipart(fields: dict, photo: bytes | None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    if photo is not None:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
                  f"Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, port: int, token: str, grid: str, photo_share: float, seed: int):
        self.port, self.token, self.grid = port, token, grid
        self.rng = random.Random(seed)
        self.photo_share = photo_share
        self.acked: dict[str, dict] = {}
        self.attempts: dict[str, int] = {}
        self.outcomes = {"201": 0, "retried": 0, "conn_errors": 0, "5xx": 0, "4xx": 0}
        self.lock = threading.Lock()

    def op(self, i: int) -> dict:
        key = f"dur-{i:06d}"
        return {"key": key, "fields": {"channel": "patrol", "title": f"durability {key}", "category": "0101", "grid": self.grid,
                                       "description": f"第{i}号 kill -9 测试"},
                "photo": _photo(i) if (i * 7919) % 100 < self.photo_share * 100 else None}

    def send(self, op: dict) -> bool:
        body, ctype = _multipart(op["fields"], op["photo"])
        with self.lock:
            n = self.attempts[op["key"]] = self.attempts.get(op["key"], 0) + 1
            if n > 1:
                self.outcomes["retried"] += 1
        try:
            conn = HTTPConnection("127.0.0.1", self.port, timeout=20)
            conn.request("POST", "/api/cases", body, {"Content-Type": ctype, "Authorization": f"Bearer {self.token}",
                                                       "Idempotency-Key": op["key"]})
            response = conn.getresponse()
            payload = response.read()
            conn.close()
        except (OSError, HTTPException):  # refused, reset, timeout: not acknowledged
            with self.lock:
                self.outcomes["conn_errors"] += 1
            return False
        with self.lock:
            if response.status == 201:
                self.outcomes["201"] += 1
                first = self.acked.setdefault(op["key"], json.loads(payload))
                if first != json.loads(payload):
                    self.outcomes.setdefault("replay_differs", 0)
                    self.outcomes["replay_differs"] += 1
                return True
            self.outcomes["5xx" if response.status >= 500 else "4xx"] += 1
            if response.status < 500:
                print(f"  unexpected {response.status}: {payload[:300]!r}", flush=True)
        return False

    def run(self, ops: list[dict], concurrency: int) -> list[dict]:
        """Send `ops` once each (`concurrency` threads); return those not acknowledged."""
        queue, failed, lock = list(ops), [], threading.Lock()

        def worker():
            while True:
                with lock:
                    if not queue:
                        return
                    op = queue.pop()
                if not self.send(op):
                    with lock:
                        failed.append(op)

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return failed


# =============================================================== one scenario


def scenario(name: str, args, tmp: Path) -> dict:
    rng = random.Random(args.seed)
    folder = tmp / name
    folder.mkdir()
    pg = None
    if name.startswith("postgresql"):
        pg = PrivatePostgres(folder, "off" if name.endswith("off") else "on")
        pg.init()
        pg.start()
        pg.create_database()
        url = pg.url
        kills = ["workers", "app", "db", "both"]
    else:
        url = f"sqlite:///{folder / 'gridgov.sqlite3'}"
        kills = ["workers", "app"]
    env = {**os.environ, "DATABASE_URL": url, "GRIDGOV_VAR_DIR": str(folder / "var"), "GRIDGOV_DEBUG": "0",
           "GRIDGOV_SECRET_KEY": secrets.token_hex(32), "GRIDGOV_ALLOWED_HOSTS": "127.0.0.1,localhost",
           "DJANGO_SETTINGS_MODULE": "gridgov.settings", "PYTHONPATH": str(ROOT),
           "GRIDGOV_RATE_LIMITS": "off"}  # crash safety is measured here, not the rate limits
    if pg is not None and pg.synchronous_commit == "off":
        env["GRIDGOV_UNSAFE_ALLOW_NON_DURABLE"] = "1"  # the control run: R30's start-up refusal is lifted for it alone
    print(f"== {name}: {args.rounds} rounds × {args.per_round} reports, concurrency {args.concurrency}", flush=True)
    try:
        setup = run_child([__file__, "--setup"], env)
        app = AppServer(env, _free_port())
        app.start()
        client = Client(app.port, setup["token"], setup["grid"], args.photo_share, args.seed)
        pending: list[dict] = []
        next_op, kill_log = 0, {k: 0 for k in kills}
        started = time.monotonic()
        for round_no in range(args.rounds):
            ops = [client.op(i) for i in range(next_op, next_op + args.per_round)]
            next_op += args.per_round
            target = kills[round_no % len(kills)] if round_no < len(kills) else rng.choice(kills)
            delay = rng.uniform(0.05, args.max_delay)
            timer = threading.Timer(delay, _strike, (target, app, pg, kill_log))
            timer.start()
            pending = client.run(pending + ops, args.concurrency)
            timer.join()
            pending = _dedupe_pending(pending, client)
            _restart(app, pg)
            # Retry everything not acknowledged, with the same key, until acknowledged.
            for _attempt in range(ATTEMPTS):
                if not pending:
                    break
                pending = client.run(pending, args.concurrency)
            print(f"  round {round_no + 1}: killed {target} after {delay * 1000:.0f} ms; "
                  f"acknowledged so far {len(client.acked)}, still pending {len(pending)}", flush=True)
        elapsed = time.monotonic() - started
        app.stop()
        ack_file = folder / "acked.json"
        ack_file.write_text(json.dumps({"acked": client.acked, "attempted": [client.op(i)["key"] for i in range(next_op)],
                                        "port": app.port, "token": setup["token"]}))
        verdict = run_child([__file__, "--verify", str(ack_file)], env)
    finally:
        if "app" in locals():
            app.stop()
        if pg is not None:
            pg.stop()
    result = {
        "scenario": name, "rounds": args.rounds, "operations": next_op, "acknowledged": len(client.acked),
        "unacknowledged_at_end": len(pending), "kills": kill_log, "seconds": round(elapsed, 1), **client.outcomes, **verdict,
    }
    print(f"  {name}: {result['acknowledged']:,} acknowledged of {next_op:,}; lost {verdict['lost']}, "
          f"read back differently {verdict['differs']}, duplicates {verdict['duplicates']}, orphans {verdict['orphans']} "
          f"(files without row before sweep {verdict['files_without_row']}), integrity {verdict['integrity']}", flush=True)
    return result


def _dedupe_pending(pending: list[dict], client: Client) -> list[dict]:
    seen, out = set(), []
    for op in pending:
        if op["key"] not in seen and op["key"] not in client.acked:
            seen.add(op["key"])
            out.append(op)
    return out


def _strike(target: str, app: AppServer, pg: PrivatePostgres | None, log: dict) -> None:
    if target in ("workers",):
        app.kill_workers()
    if target in ("app", "both"):
        app.kill()
    if target in ("db", "both") and pg is not None:
        pg.crash()
    log[target] += 1


def _restart(app: AppServer, pg: PrivatePostgres | None) -> None:
    if pg is not None and pg.postmaster_pid() is not None and not Path(f"/proc/{pg.postmaster_pid()}").exists():
        (pg.data / "postmaster.pid").unlink(missing_ok=True)
    if pg is not None and (pg.postmaster_pid() is None or not Path(f"/proc/{pg.postmaster_pid()}").exists()):
        pg.start()  # WAL crash recovery runs here
    if not app.alive():
        app.start()
    else:
        _wait_healthy(app.port)


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)


# =============================================================== children


def setup_child() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from gridgov.accounts.services import issue_token
    from tests.factories import build_world

    call_command("migrate", verbosity=0)
    world = build_world()
    token = issue_token(actor=None, user=world.users["worker"], name="durability")[1]
    print("RESULT " + json.dumps({"token": token, "grid": world.grids[0].code}), flush=True)


def canonical_digest(body: dict) -> str:
    return hashlib.new("sm3", json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def verify_child(ack_path: str) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test import Client as DjangoClient

    from gridgov.cases.models import Case, CasePhoto, TimelineEntry
    from gridgov.ops import media
    from gridgov.ops.models import IdempotencyKey
    from gridgov.privacy.models import AuditRecord

    data = json.loads(Path(ack_path).read_text())
    acked, port, token = data["acked"], data["port"], data["token"]
    # The same host and port as the server, so photo URLs in the detail are built alike.
    http = DjangoClient(HTTP_HOST=f"127.0.0.1:{port}")
    lost, differs = [], []
    for key, body in acked.items():
        r = http.get(f"/api/cases/{body['number']}", headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200:
            lost.append(key)
        elif canonical_digest(r.json()) != canonical_digest(body):
            differs.append(key)
    per_title = Case.objects.filter(title__startswith="durability ").values("title").annotate(n=Count("id"))
    duplicates = sum(row["n"] - 1 for row in per_title if row["n"] > 1)
    key_dups = sum(row["n"] - 1 for row in IdempotencyKey.objects.values("user", "scope", "key").annotate(n=Count("id"))
                   if row["n"] > 1)
    case_ids = set(Case.objects.values_list("id", flat=True))
    with_timeline = set(TimelineEntry.objects.filter(action="report").values_list("case_id", flat=True))
    audited = {int(x) for x in AuditRecord.objects.filter(action="case.report", object_type="cases.case")
               .values_list("object_id", flat=True)}
    numbers = set(Case.objects.values_list("number", flat=True))
    keys_without_case = sum(1 for r in IdempotencyKey.objects.values_list("response", flat=True) if json.loads(r).get("number") not in numbers)
    found = media.check()
    photos_without_file = len(found["rows_without_file"])
    swept = media.sweep(grace_seconds=0)  # the recovery step after a crash
    after_sweep = media.check()
    integrity = "n/a"
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            integrity = cursor.execute("PRAGMA integrity_check").fetchone()[0]
    orphans = {
        "cases_without_timeline": len(case_ids - with_timeline), "cases_without_audit": len(case_ids - audited),
        "keys_without_case": keys_without_case, "photo_rows_without_file": photos_without_file,
        "files_without_row_after_sweep": len(after_sweep["files_without_row"]),
    }
    result = {
        "lost": len(lost), "differs": len(differs), "lost_keys": lost[:20], "differs_keys": differs[:20],
        "duplicates": duplicates + key_dups, "orphans": sum(orphans.values()), "orphan_detail": orphans,
        "files_without_row": len(found["files_without_row"]), "files_swept": len(swept["deleted"]),
        "cases_stored": len(case_ids), "photos_stored": CasePhoto.objects.count(), "integrity": integrity,
    }
    print("RESULT " + json.dumps(result), flush=True)


# =============================================================== main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--photo-share", type=float, default=0.25)
    parser.add_argument("--max-delay", type=float, default=1.5, help="latest kill moment in a round, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-control", action="store_true", help="skip the synchronous_commit=off control run")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_child()
        return 0
    if args.verify:
        verify_child(args.verify)
        return 0
    if not (1 <= args.rounds <= 1000 and 1 <= args.per_round <= 10000 and 1 <= args.concurrency <= 64):
        parser.error("rounds 1..1000, per-round 1..10000, concurrency 1..64")
    names = [n for n, on in (("sqlite", not args.no_sqlite), ("postgresql", not args.no_postgres),
                             ("postgresql-sync-off", not (args.no_postgres or args.no_control))) if on]
    results = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-durability-") as tmp:
        os.chmod(tmp, 0o755)
        for name in names:
            results[name] = scenario(name, args, Path(tmp))
    print()
    print(f"{'summary':<28}" + "".join(f"{k:>22}" for k in results))
    for label, key in (("acknowledged", "acknowledged"), ("lost", "lost"), ("read back differently", "differs"),
                       ("duplicates", "duplicates"), ("orphans", "orphans"), ("files w/o row (swept)", "files_without_row"),
                       ("retries", "retried"), ("5xx answers", "5xx")):
        print(f"{label:<28}" + "".join(f"{r.get(key, 0):>22}" for r in results.values()))
    safe = [r for n, r in results.items() if n != "postgresql-sync-off"]
    ok = all(r["lost"] == 0 and r["differs"] == 0 and r["duplicates"] == 0 and r["orphans"] == 0 for r in safe)
    print("R31 (lost = 0, duplicates = 0, orphans = 0 with durable settings):", "met" if ok else "NOT met")
    if "postgresql-sync-off" in results:
        print(f"control, synchronous_commit=off: {results['postgresql-sync-off']['lost']} acknowledged reports lost")
    print(json.dumps({"benchmark": "durability", "rounds": args.rounds, "per_round": args.per_round, "goals_met": ok,
                      "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()], **results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
