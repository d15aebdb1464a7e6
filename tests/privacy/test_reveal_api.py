"""Masking on every output path and the audited reveal (R19), blind-index search."""

import json

import pytest

from gridgov.cases import services as cs
from gridgov.privacy.models import AuditRecord
from tests.api.conftest import error_of

from .test_fields import NAME, PHONE

ROLES = ["admin", "resident", "resident2", "worker", "worker_other", "staff", "dispatcher", "dispatcher2",
         "district_dispatcher", "handler", "cg_handler", "handler_other", "leader", "auditor"]


@pytest.fixture
def case(w):
    """A case reported by `resident` about themselves, accepted and with a follower."""
    case = cs.report_case(actor=w.users["resident"], channel="resident", title="楼道堆物", category=w.cats["litter"],
                          grid=w.grids[0], reporter_name=NAME, reporter_phone=PHONE, public_anonymous=False)
    return cs.accept_case(actor=w.users["dispatcher"], case=case)


def test_no_role_sees_a_full_value_without_a_reveal(as_user, w, case):
    """Scan every response of list and detail for every role: 0 full names or phones."""
    hits, responses = [], 0
    for role in ROLES:
        api = as_user(role)
        for path in ["/cases", f"/cases/{case.number}", f"/cases?q={case.number}"]:
            r = api.get(path)
            responses += 1
            body = r.content.decode()
            if PHONE in body or (NAME in body and role != "resident"):
                hits.append((role, path))
    assert responses == 3 * len(ROLES) and hits == []


def test_masked_views_by_role(as_user, w, case):
    staff = as_user("dispatcher").get(f"/cases/{case.number}").json()["reporter"]
    assert staff == {"name": "金***", "phone": "139****0001", "public_anonymous": False}
    assert "no-store" in as_user("dispatcher").get(f"/cases/{case.number}")["Cache-Control"]
    own = as_user("resident").get(f"/cases/{case.number}").json()["reporter"]
    assert own == {"name": NAME, "phone": "139****0001", "public_anonymous": False}


def test_the_public_never_sees_a_reporter(as_user, w, case):
    """A resident who follows a case (a merged duplicate's reporter) sees no one else's name."""
    dup = cs.report_case(actor=w.users["resident2"], channel="resident", title="楼道堆物", category=w.cats["litter"],
                         grid=w.grids[0], reporter_phone="13912340077")
    cs.merge_case(actor=w.users["dispatcher"], case=dup, into=case)
    seen = as_user("resident2").get(f"/cases/{case.number}").json()["reporter"]
    assert seen == {"name": None, "phone": None, "public_anonymous": False}


def test_reveal_is_audited_with_purpose_and_no_values(as_user, w, case):
    r = as_user("dispatcher").post(f"/cases/{case.number}/reveal", {"purpose": "callback"})
    assert r.status_code == 200, r.content
    assert "no-store" in r["Cache-Control"]
    assert r.json() == {"number": case.number, "purpose": "callback", "reporter": {"name": NAME, "phone": PHONE},
                        "followers": []}
    record = AuditRecord.objects.get(action="pi.reveal")
    assert record.actor == w.users["dispatcher"] and record.object_id == str(case.pk)
    assert record.data == {"purpose": "callback", "fields": ["reporter_name", "reporter_phone"], "related_rows": 0}
    assert PHONE not in json.dumps(record.data, ensure_ascii=False) and NAME not in json.dumps(record.data, ensure_ascii=False)


@pytest.mark.parametrize("role, status, code", [
    ("resident", 403, "reveal_forbidden"), ("leader", 403, "reveal_forbidden"), ("admin", 403, "reveal_forbidden"),
    ("worker", 403, "reveal_forbidden"), ("handler", 404, "not_found"), ("dispatcher2", 404, "not_found"),
    ("auditor", 404, "not_found"),
])
def test_reveal_refused(as_user, w, case, role, status, code):
    r = as_user(role).post(f"/cases/{case.number}/reveal", {"purpose": "callback"})
    assert error_of(r, status)["code"] == code
    assert not AuditRecord.objects.filter(action="pi.reveal").exists()


@pytest.mark.parametrize("body", [{}, {"purpose": "curiosity"}, {"purpose": "callback", "fields": ["x"]}, {"purpose": 1}])
def test_reveal_bad_input(as_user, case, body):
    r = as_user("dispatcher").post(f"/cases/{case.number}/reveal", body)
    assert r.status_code == 422


def test_blind_index_search(as_user, w, case):
    cs.report_case(actor=w.users["worker"], channel="patrol", title="其他", category=w.cats["litter"], grid=w.grids[0],
                   reporter_phone="13912340078")
    found = as_user("dispatcher").get("/cases", {"reporter_phone": "+86 139 1234 0001"}).json()
    assert [c["number"] for c in found["items"]] == [case.number]
    assert AuditRecord.objects.filter(action="pi.search", actor=w.users["dispatcher"]).count() == 1
    assert as_user("dispatcher").get("/cases", {"reporter_phone": "13900000000"}).json()["count"] == 0
    assert error_of(as_user("resident").get("/cases", {"reporter_phone": PHONE}), 403)["code"] == "search_forbidden"
    # Out of scope stays out of scope: the index narrows the restricted set, never widens it.
    assert as_user("dispatcher2").get("/cases", {"reporter_phone": PHONE}).json()["count"] == 0


def test_hostile_phone_at_intake_is_a_422(as_user, w):
    for bad in ["12345", "<script>", "1381234567８x", "' OR 1=1 --"]:
        r = as_user("worker").post("/cases", {"channel": "patrol", "title": "t", "grid": w.grids[0].code,
                                              "reporter_phone": bad})
        assert error_of(r, 422)["details"]["field"] == "reporter_phone"
