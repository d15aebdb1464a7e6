"""R10: if the audit record cannot be written, the business change does not happen."""

import logging

import pytest
from django.db import OperationalError

from gridgov.cases.models import Case, TimelineEntry
from gridgov.cases.services import report_case
from gridgov.privacy import chain
from gridgov.privacy.models import AuditRecord
from gridgov.privacy.services import AuditUnavailable
from tests.api.conftest import Api, error_of
from tests.factories import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(db):
    return build_world()


def _counts():
    return Case.objects.count(), TimelineEntry.objects.count(), AuditRecord.objects.count()


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), OperationalError("canceling statement due to statement timeout")])
def test_a_failing_audit_sink_rolls_the_service_back(w, monkeypatch, caplog, failure):
    def broken(values):
        raise failure

    monkeypatch.setattr(chain, "append", broken)
    before = _counts()
    with caplog.at_level(logging.CRITICAL, logger="gridgov.audit"), pytest.raises(AuditUnavailable):
        report_case(actor=w.users["worker"], channel="patrol", title="路灯不亮", lat=24.905, lon=118.505)
    assert _counts() == before
    assert any("AUDIT SINK FAILURE" in r.getMessage() for r in caplog.records)


def test_the_api_answers_503_and_writes_nothing(w, monkeypatch, client):
    from gridgov.accounts.services import issue_token

    token = issue_token(actor=None, user=w.users["worker"], name="t")[1]
    monkeypatch.setattr(chain, "MAX_ATTEMPTS", 0)  # the chain never finds a free position
    before = _counts()
    response = Api(client, token).post("/cases", {"channel": "patrol", "title": "路灯不亮", "lat": 24.905, "lon": 118.505})
    assert error_of(response, 503)["code"] == "audit_unavailable"
    assert _counts() == before


def test_a_failing_insert_in_the_database_rolls_back_too(w, monkeypatch):
    # A real database error on the audit INSERT (not a Python stand-in): a bad column.
    monkeypatch.setattr(chain, "INSERT_COLUMNS", (*chain.CANONICAL_FIELDS, "prev_hash", "no_such_column"))
    before = _counts()
    with pytest.raises(AuditUnavailable):
        report_case(actor=w.users["worker"], channel="patrol", title="路灯不亮", lat=24.905, lon=118.505)
    assert _counts() == before
