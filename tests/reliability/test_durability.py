"""A short run of bench/durability.py: the real app server and database are SIGKILLed and
restarted while a client reports cases with idempotency keys; nothing acknowledged is
lost, duplicated or orphaned. SQLite always; a private PostgreSQL cluster too when the
suite runs on PostgreSQL. The full run (more rounds, the synchronous_commit=off control)
is the benchmark."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_no_acknowledged_write_lost_under_kill_9():
    args = ["--rounds", "2", "--per-round", "8", "--concurrency", "3", "--max-delay", "0.6", "--no-control"]
    if connection.vendor != "postgresql":
        args.append("--no-postgres")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "durability.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    scenarios = [result[name] for name in ("sqlite", "postgresql") if name in result]
    assert scenarios and proc.returncode == 0, proc.stdout[-3000:]
    for s in scenarios:
        assert s["acknowledged"] == s["operations"] == 16, s
        assert sum(s["kills"].values()) == 2
        assert (s["lost"], s["differs"], s["duplicates"], s["orphans"]) == (0, 0, 0, 0), s
        assert s["integrity"] in ("ok", "n/a")
