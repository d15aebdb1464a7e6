"""What the benchmarks share: running a measuring child process on one database, and a
throwaway PostgreSQL database created for one run and dropped after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_child(cmd: list[str], env: dict) -> dict:
    """Run a child benchmark, echo its output, and return the JSON after its `RESULT ` line."""
    proc = subprocess.Popen([sys.executable, *cmd], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or result is None:
        raise SystemExit(f"benchmark child failed ({env['DATABASE_URL'].split(':')[0]})")
    return result


def with_throwaway_pg(url: str, run, *, prefix: str = "gridgov_bench"):
    """Call `run(url_of_a_new_database)` and drop that database afterwards, whatever happens."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(urlunsplit(urlsplit(url)._replace(path="/" + name)))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
