"""Idempotency-Key on POST /api/cases: a retry answers the original 201 and writes nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridgov.cases.models import Case, CasePhoto, TimelineEntry
from gridgov.ops import idempotency
from gridgov.ops.models import IdempotencyKey
from gridgov.privacy.models import AuditRecord
from tests.api.conftest import error_of
from tests.factories import photo

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}


def counts():
    return (Case.objects.count(), TimelineEntry.objects.count(), CasePhoto.objects.count(),
            AuditRecord.objects.filter(action__startswith="case.").count())


def keyed(api, key):
    api.headers = {**api.headers, "Idempotency-Key": key}
    return api


def test_same_key_replays_the_original_201(as_user):
    api = keyed(as_user("worker"), "k-1")
    first = api.post("/cases", REPORT)
    assert first.status_code == 201, first.content
    before = counts()
    again = api.post("/cases", REPORT)
    assert again.status_code == 201
    assert again.content == first.content  # byte for byte, the same case number
    assert counts() == before == (1, 1, 0, 1)
    assert IdempotencyKey.objects.count() == 1


def test_replay_with_photos_compares_file_bytes(as_user):
    api = keyed(as_user("worker"), "k-photos")
    first = api.post_form("/cases", {**REPORT, "photos": [photo("a.jpg")]})
    assert first.status_code == 201, first.content
    again = api.post_form("/cases", {**REPORT, "photos": [photo("a.jpg")]})
    assert again.content == first.content and CasePhoto.objects.count() == 1
    other = api.post_form("/cases", {**REPORT, "photos": [photo("a.jpg", (0, 0, 255))]})
    assert error_of(other, 409)["code"] == "idempotency_key_reused"
    assert Case.objects.count() == 1


def test_same_key_different_payload_is_409_and_writes_nothing(as_user):
    api = keyed(as_user("worker"), "k-2")
    assert api.post("/cases", REPORT).status_code == 201
    before = counts()
    err = error_of(api.post("/cases", {**REPORT, "title": "另一件事"}), 409)
    assert err["code"] == "idempotency_key_reused" and err["details"] == {"header": "Idempotency-Key"}
    assert counts() == before


def test_keys_belong_to_a_user(as_user):
    a = keyed(as_user("worker"), "shared").post("/cases", REPORT)
    b = keyed(as_user("worker_other"), "shared").post("/cases", {**REPORT, "grid": None, "region": "350502001001"})
    assert a.status_code == b.status_code == 201, b.content
    assert a.json()["number"] != b.json()["number"]


def test_without_header_every_post_creates(as_user):
    api = as_user("worker")
    assert api.post("/cases", REPORT).json()["number"] != api.post("/cases", REPORT).json()["number"]
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "键"])
def test_malformed_key_is_422(as_user, key):
    api = as_user("worker")
    api.headers = {**api.headers, "Idempotency-Key": key}
    r = api.post("/cases", REPORT)
    if key.strip() == "" and key == "":
        # An empty header is still a header: refused, never silently ignored.
        pass
    assert error_of(r, 422)["details"] == {"header": "Idempotency-Key"}
    assert Case.objects.count() == 0


def test_failed_write_does_not_burn_the_key(as_user):
    api = keyed(as_user("worker"), "k-3")
    assert api.post("/cases", {**REPORT, "grid": "999"}).status_code == 422
    assert IdempotencyKey.objects.count() == 0
    assert api.post("/cases", REPORT).status_code == 201


def test_expired_key_can_be_used_again(as_user):
    api = keyed(as_user("worker"), "k-4")
    first = api.post("/cases", REPORT).json()["number"]
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    second = api.post("/cases", {**REPORT, "title": "新的一件"})
    assert second.status_code == 201 and second.json()["number"] != first
    assert Case.objects.count() == 2 and IdempotencyKey.objects.count() == 1


def test_purge_deletes_only_expired(as_user):
    keyed(as_user("worker"), "old").post("/cases", REPORT)
    keyed(as_user("worker"), "new").post("/cases", REPORT)
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(hours=1))
    assert idempotency.purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_ttl_is_configurable(settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "IDEMPOTENCY_TTL_HOURS": 2}
    assert idempotency.ttl() == timedelta(hours=2)


def test_header_costs_one_statement(as_user):
    """With the header, intake runs exactly one more statement (the key's INSERT)."""
    plain, with_key = as_user("worker"), keyed(as_user("dispatcher"), "k-5")
    plain.post("/cases", REPORT), with_key.post("/cases", REPORT)  # warm caches (permissions, calendar)
    with_key.headers["Idempotency-Key"] = "k-6"
    with CaptureQueriesContext(connection) as base:
        assert as_user("worker").post("/cases", REPORT).status_code == 201
    with CaptureQueriesContext(connection) as keyed_q:
        assert keyed(as_user("worker"), "k-7").post("/cases", REPORT).status_code == 201
    extra = [q["sql"] for q in keyed_q.captured_queries if "ops_idempotencykey" in q["sql"]]
    assert len(extra) == 1 and extra[0].lstrip().upper().startswith("INSERT")
    assert len(keyed_q.captured_queries) == len(base.captured_queries) + 1
