"""Races over the real request stack: threads, each with its own database connection, post
the same thing at the same instant (a barrier releases them together).

Used in-process on PostgreSQL (a `transaction=True` test) and, on SQLite, in a child
process on a file database: the test suite's in-memory SQLite shares one cache between
threads, where concurrent writers fail at once ("table is locked") instead of waiting as
they do on a real file with `busy_timeout`.

    python tests/reliability/_races.py claims|intake ROUNDS CONTENDERS   (DATABASE_URL set)
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}


def _post_all(tokens: list[str], path: str, body: dict, headers: dict | None = None) -> list[tuple[int, dict]]:
    """POST `body` to /api`path` once per token, all threads released at once."""
    from django.db import connection
    from django.test import Client

    barrier, answers, lock = threading.Barrier(len(tokens)), [], threading.Lock()

    def post(token):
        client = Client()
        try:
            barrier.wait(30)
            r = client.post(f"/api{path}", json.dumps(body), content_type="application/json",
                            headers={"Authorization": f"Bearer {token}", **(headers or {})})
            with lock:
                answers.append((r.status_code, r.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers


def race_world():
    """The small world plus more handlers in the 执法 department and more street dispatchers."""
    from gridgov.accounts.models import Role
    from gridgov.accounts.services import issue_token
    from tests.factories import build_world, make_user

    world = build_world()
    handlers = [world.users["handler"]] + [
        make_user(f"handler_{i}", Role.DEPARTMENT_HANDLER, region=world.street, department=world.depts["zf"]) for i in range(3)
    ]
    dispatchers = [world.users["dispatcher"]] + [make_user(f"dispatcher_{i}", Role.DISPATCHER, region=world.street) for i in range(3)]

    def token(user):
        return issue_token(actor=None, user=user, name="race")[1]

    return world, [token(u) for u in handlers], [token(u) for u in dispatchers], token(world.users["worker"])


def race_claims(rounds: int, contenders: int) -> dict:
    """Per round: one case, `contenders` dispatchers race to accept (立案) it, then it is
    dispatched and `contenders` handlers race to sign for it (签收, `start`).
    Exactly one winner each time; the others a clean 409."""
    from gridgov.cases import services as case_services
    from gridgov.cases.models import Case, TimelineEntry

    world, handlers, dispatchers, _ = race_world()
    handlers, dispatchers = (handlers * contenders)[:contenders], (dispatchers * contenders)[:contenders]
    figures = {"races": 0, "double_claims": 0, "no_winner": 0, "loser_statuses": {}, "server_errors": 0}
    for _ in range(rounds):
        case = case_services.report_case(actor=world.users["worker"], channel="patrol", title="占道经营",
                                         category=world.cats["litter"], grid=world.grids[0])
        for action, tokens, prepare in (
            ("accept", dispatchers, None),
            ("start", handlers, lambda c: case_services.dispatch_case(actor=world.users["dispatcher"], case=c,
                                                                        department=world.depts["zf"])),
        ):
            if prepare:
                prepare(Case.objects.get(pk=case.pk))
            body = {"category": "0101"} if action == "accept" else {}
            answers = _post_all(tokens, f"/cases/{case.number}/{action}", body)
            figures["races"] += 1
            wins = [a for a in answers if a[0] == 200]
            for status, payload in answers:
                if status != 200:
                    code = f"{status} {payload.get('error', {}).get('code')}"
                    figures["loser_statuses"][code] = figures["loser_statuses"].get(code, 0) + 1
                    figures["server_errors"] += status >= 500
            entries = TimelineEntry.objects.filter(case_id=case.pk, action=action).count()
            figures["double_claims"] += int(len(wins) > 1 or entries > 1)
            figures["no_winner"] += int(len(wins) == 0 or entries == 0)
    return figures


def race_intake(rounds: int, contenders: int) -> dict:
    """Per round: `contenders` threads post one report with one Idempotency-Key."""
    from gridgov.cases.models import Case

    _world, _h, _d, token = race_world()
    before = Case.objects.count()
    figures = {"races": rounds, "duplicates": 0, "different_answers": 0, "non_201": 0}
    for i in range(rounds):
        answers = _post_all([token] * contenders, "/cases", REPORT, {"Idempotency-Key": f"race-{i}"})
        figures["non_201"] += sum(1 for s, _ in answers if s != 201)
        figures["different_answers"] += int(len({json.dumps(b, sort_keys=True) for _, b in answers}) != 1)
    created = Case.objects.count() - before
    figures["duplicates"] = created - rounds
    figures["cases_created"] = created
    return figures


def run_in_child(kind: str, rounds: int, contenders: int, tmp: Path) -> dict:
    """Run a race in a child process on a fresh SQLite file in `tmp`."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'race.sqlite3'}", "GRIDGOV_VAR_DIR": str(tmp / "var"),
           "DJANGO_SETTINGS_MODULE": "gridgov.settings", "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, __file__, kind, str(rounds), str(contenders)], check=False, env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    kind, rounds, contenders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    result = (race_claims if kind == "claims" else race_intake)(rounds, contenders)
    print(json.dumps(result))
