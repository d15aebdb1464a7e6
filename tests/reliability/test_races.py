"""Racing claims (R31, F19) and racing idempotent reports: exactly one winner.

On PostgreSQL the threads run in this process against the test database; on SQLite in a
child process on a file database (see `_races`)."""

import pytest
from django.db import connection

from . import _races

ROUNDS, CONTENDERS = 100, 4


def _run(kind, rounds, contenders, tmp_path):
    if connection.vendor == "sqlite":
        return _races.run_in_child(kind, rounds, contenders, tmp_path)
    return (_races.race_claims if kind == "claims" else _races.race_intake)(rounds, contenders)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_racing_claims_have_exactly_one_winner(tmp_path):
    figures = _run("claims", ROUNDS // 2, CONTENDERS, tmp_path)  # two races per round: accept, then start
    print("F19 racing claims:", figures)
    assert figures["races"] == ROUNDS
    assert figures["double_claims"] == 0 and figures["no_winner"] == 0 and figures["server_errors"] == 0
    # Every loser got a clean 409: the case had already moved on.
    assert set(figures["loser_statuses"]) == {"409 illegal_transition"}
    assert sum(figures["loser_statuses"].values()) == ROUNDS * (CONTENDERS - 1)


@pytest.mark.django_db(transaction=True)
def test_racing_idempotent_reports_create_one_case_each(tmp_path):
    figures = _run("intake", 10, 5, tmp_path)
    print("racing idempotent reports:", figures)
    assert figures == {"races": 10, "duplicates": 0, "different_answers": 0, "non_201": 0, "cases_created": 10}
