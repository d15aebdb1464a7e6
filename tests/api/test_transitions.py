"""Every transition over HTTP: success, 404 outside the jurisdiction, 403 without the
right, 409 in the wrong state, 422 on bad input — and nothing written on a refusal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridgov.cases.models import Assignment, Case, ExtensionRequest, TimelineEntry
from tests.factories import photo

from .conftest import error_of

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}


@pytest.fixture
def flow(as_user):
    """Moves a case through the loop over HTTP, each step as the user who does it."""

    class Flow:
        def reported(self, **kw):
            r = as_user("worker").post("/cases", {**REPORT, **kw})
            assert r.status_code == 201, r.content
            return r.json()["number"]

        def step(self, user, number, action, body=None, *, form=None, status=200):
            api = as_user(user)
            path = f"/cases/{number}/{action}"
            r = api.post_form(path, form) if form is not None else api.post(path, body or {})
            assert r.status_code == status, r.content
            return r.json()

        def accepted(self, **kw):
            number = self.reported(**kw)
            self.step("dispatcher", number, "accept")
            return number

        def dispatched(self, **kw):
            number = self.accepted(**kw)
            self.step("dispatcher", number, "dispatch", {"department": "350502001-ZF"})
            return number

        def in_handling(self, **kw):
            number = self.dispatched(**kw)
            self.step("handler", number, "start")
            return number

        def handled(self, **kw):
            number = self.in_handling(**kw)
            self.step("handler", number, "feedback", {"result": "已清理"})
            return number

        def closed(self, **kw):
            number = self.handled(**kw)
            self.step("worker", number, "verify", {"passed": True})
            return number

    return Flow()


def state(number):
    case = Case.objects.get(number=number)
    return case.status, TimelineEntry.objects.filter(case=case).count()


def test_whole_loop_over_http(as_user, flow, w):
    r = as_user("resident").post_form("/cases", {"channel": "resident", "title": "楼道堆物", "category": "0101",
                                                 "grid": w.grids[0].code, "reporter_phone": "13912348888",
                                                 "photos": [photo()]})
    assert r.status_code == 201, r.content
    number = r.json()["number"]
    d = flow.step("dispatcher", number, "accept", {"urgency": "normal", "note": "立案"})
    assert d["status"] == "accepted" and d["due_at"] and d["sla_state"] == "normal"
    assert d["suggestion"]["department"]["code"] == "350502001-ZF" and d["suggestion"]["source"] == "matrix"
    # No department and no region: the matrix suggestion is followed.
    d = flow.step("dispatcher", number, "dispatch", {})
    assert d["status"] == "dispatched" and d["owner_department"]["code"] == "350502001-ZF"
    assert d["assignments"][0]["followed_suggestion"] is True
    d = flow.step("handler", number, "start", {"note": "已签收"})
    assert d["status"] == "in_handling"
    d = flow.step("handler", number, "feedback", form={"result": "已清理", "photos": [photo(), photo("b.jpg")]})
    assert d["status"] == "handled" and [p["kind"] for p in d["photos"]] == ["report", "feedback", "feedback"]
    d = flow.step("worker", number, "verify", form={"passed": "true", "photos": [photo()]})
    assert d["status"] == "closed" and d["closure"] == "resolved" and d["closed_on_time"] is True
    d = flow.step("resident", number, "evaluate", {"rating": 5, "comment": "很及时"})
    assert d["status"] == "evaluated" and d["rating"] == 5
    # The resident sees their own case, the public timeline, their own name and masked phone.
    assert [e["action"] for e in d["timeline"]] == ["report", "accept", "dispatch", "start", "feedback", "verify", "evaluate"]
    assert all(e["actor"] is None for e in d["timeline"])
    assert d["reporter"]["phone"] == "139****8888"
    detail = as_user("dispatcher").get(f"/cases/{number}").json()
    assert detail["timeline"][1]["actor"] == "dispatcher" and detail["reporter"]["phone"] == "139****8888"


def test_reject(flow):
    number = flow.reported()
    d = flow.step("dispatcher", number, "reject", {"reason": "非本平台受理范围"})
    assert d["status"] == "rejected" and d["closure_note"] == "非本平台受理范围"


def test_merge(flow, as_user, w):
    survivor = flow.accepted()
    dup = flow.reported()
    d = flow.step("dispatcher", dup, "merge", {"into": survivor})
    assert d["status"] == "merged" and d["duplicate_of"] == survivor
    # A survivor the dispatcher cannot see does not exist for them.
    other = flow.reported(grid=w.grids[3].code)
    third = flow.reported()
    error = error_of(as_user("dispatcher").post(f"/cases/{third}/merge", {"into": other}), 422)
    assert error["details"]["field"] == "into"
    error = error_of(as_user("dispatcher").post(f"/cases/{third}/merge", {"into": "nope"}), 422)
    assert error["details"]["field"] == "into"


def test_dispatch_to_region_and_community_handles(flow):
    number = flow.accepted()
    d = flow.step("dispatcher", number, "dispatch", {"region": "350502001001"})
    assert d["owner_region"]["code"] == "350502001001" and d["owner_department"] is None
    flow.step("staff", number, "start")
    d = flow.step("staff", number, "feedback", {"result": "社区已处理"})
    assert d["status"] == "handled"


def test_dispatch_without_suggestion_or_target_is_422(flow, as_user):
    number = flow.accepted(category="02")  # no matrix row for 道路破损
    before = state(number)
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/dispatch", {}), 422)
    assert error["details"]["field"] == "department"
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/dispatch", {"department": "NOPE"}), 422)
    assert error["details"]["field"] == "department"
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/dispatch", {"department": "350502002-ZF"}), 422)
    assert state(number) == before and not Assignment.objects.exists()


def test_return_and_redispatch(flow):
    number = flow.dispatched()
    d = flow.step("handler", number, "return", {"reason": "属供电公司职责", "responsible_party": "国网泉州供电公司"})
    assert d["status"] == "returned" and d["responsible_party"] == "国网泉州供电公司"
    d = flow.step("dispatcher", number, "dispatch", {"department": "350502001001-WY"})
    assert d["status"] == "dispatched" and len(d["assignments"]) == 2 and d["assignments"][0]["returned_at"]


def test_extension_request_and_decision(flow, as_user):
    number = flow.in_handling()
    due = Case.objects.get(number=number).due_at
    d = flow.step("handler", number, "request-extension", {"extra_working_days": 2, "reason": "需协调施工单位"})
    assert d["extension_requests"][0]["state"] == "pending"
    error = error_of(as_user("handler").post(f"/cases/{number}/request-extension", {"extra_working_days": 1, "reason": "再"}), 409)
    assert error["code"] == "illegal_transition"
    error = error_of(as_user("handler").post(f"/cases/{number}/decide-extension", {"approve": True}), 403)
    d = flow.step("dispatcher", number, "decide-extension", {"approve": True, "note": "同意"})
    assert d["extension_requests"][0]["state"] == "approved"
    assert Case.objects.get(number=number).due_at > due


@pytest.mark.parametrize("days", [0, 61, "two", 1.5, None])
def test_extension_bad_days(flow, as_user, days):
    number = flow.in_handling()
    error = error_of(as_user("handler").post(f"/cases/{number}/request-extension", {"extra_working_days": days, "reason": "x"}), 422)
    assert error["details"]["fields"][0]["field"] == "extra_working_days"
    assert not ExtensionRequest.objects.exists()


def test_verify_fail_is_rework(flow):
    number = flow.handled()
    d = flow.step("worker", number, "verify", {"passed": False, "note": "仍有垃圾"})
    assert d["status"] == "in_handling" and d["rework_count"] == 1


def test_close_variants(flow, as_user):
    number = flow.handled(category="0102")  # 小广告: no verification required
    d = flow.step("dispatcher", number, "close", {"closure": "resolved"})
    assert d["status"] == "closed"
    number = flow.accepted()
    d = flow.step("dispatcher", number, "close", {"closure": "not_ours", "responsible_party": "铁路部门"})
    assert d["closure"] == "not_ours"
    number = flow.accepted()
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/close", {"closure": "whatever"}), 422)
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/close", {"closure": "resolved"}), 409)
    assert error["code"] == "illegal_transition"


def test_self_resolve_multipart(flow, as_user):
    number = flow.reported()
    d = flow.step("worker", number, "self-resolve",
                  form={"result": "已清理", "before_photos": [photo()], "after_photos": [photo("after.jpg")]})
    assert d["status"] == "closed" and d["self_resolved"] is True
    assert sorted(p["kind"] for p in d["photos"]) == ["after", "before"]
    number = flow.reported()
    before = state(number)
    error = error_of(as_user("worker").post_form(f"/cases/{number}/self-resolve", {"result": "x", "before_photos": [photo()]}), 422)
    assert error["details"]["field"] == "photos"
    assert state(number) == before


def test_supervise_escalate_hang_resume(flow, as_user, w):
    number = flow.accepted()
    d = flow.step("leader", number, "supervise", {"note": "尽快处理"})
    assert d["supervision_count"] == 1
    error_of(as_user("leader").post(f"/cases/{number}/supervise", {}), 422)
    d = flow.step("dispatcher", number, "escalate", {"reason": "需区级协调"})
    assert d["owner_region"]["code"] == w.district.code and d["escalation_count"] == 1
    # Held by the district now: the street dispatcher may no longer command it.
    error = error_of(as_user("dispatcher").post(f"/cases/{number}/hang", {"review_on": "2099-01-01", "reason": "x"}), 403)
    assert error["code"] == "not_command_level"
    review_on = (timezone.localdate() + timedelta(days=30)).isoformat()
    d = flow.step("district_dispatcher", number, "hang", {"review_on": review_on, "reason": "待拆迁"})
    assert d["status"] == "long_standing" and d["review_on"] == review_on and d["due_at"] is None
    d = flow.step("district_dispatcher", number, "resume", {"note": "拆迁完成"})
    assert d["status"] == "accepted" and d["due_at"]


@pytest.mark.parametrize("review_on", ["yesterday", "2000-01-01", "2026-13-45", None])
def test_hang_bad_review_date(flow, as_user, review_on):
    number = flow.accepted()
    before = state(number)
    error_of(as_user("dispatcher").post(f"/cases/{number}/hang", {"review_on": review_on, "reason": "x"}), 422)
    assert state(number) == before


def test_callback_and_reopen(flow, as_user):
    number = flow.closed()
    d = flow.step("dispatcher", number, "callback", {"rating": 4, "comment": "电话回访满意"})
    assert d["status"] == "evaluated" and d["evaluated_by_callback"] is True
    d = flow.step("dispatcher", number, "reopen", {"reason": "又有垃圾"})
    assert d["status"] == "accepted" and d["reopen_count"] == 1


@pytest.mark.parametrize("rating", [0, 6, "five", 4.5, True, None])
def test_evaluate_bad_rating(flow, as_user, rating):
    number = flow.closed()
    before = state(number)
    error_of(as_user("dispatcher").post(f"/cases/{number}/callback", {"rating": rating}), 422)
    assert state(number) == before


def test_evaluate_only_by_reporter(flow, as_user):
    number = flow.closed()
    error = error_of(as_user("resident").post(f"/cases/{number}/evaluate", {"rating": 5}), 404)  # not theirs: invisible
    assert error["code"] == "not_found"


def test_correct_location(flow, as_user, w):
    number = flow.reported()
    d = flow.step("staff", number, "correct-location", {"grid": w.grids[1].code, "note": "定位偏差"})
    assert d["grid"]["code"] == w.grids[1].code
    error = error_of(as_user("worker").post(f"/cases/{number}/correct-location", {"grid": "nope"}), 422)
    assert error["details"]["field"] == "grid"


# --- the same refusals for every action -------------------------------------------------

ACTIONS = {
    "accept": {}, "reject": {"reason": "r"}, "merge": {"into": "x"}, "dispatch": {"department": "350502001-ZF"},
    "start": {}, "return": {"reason": "r", "responsible_party": "p"},
    "request-extension": {"extra_working_days": 1, "reason": "r"}, "decide-extension": {"approve": True},
    "feedback": {"result": "r"}, "verify": {"passed": True}, "close": {"closure": "resolved"},
    "self-resolve": {"result": "r"}, "supervise": {"note": "n"}, "escalate": {"reason": "r"},
    "hang": {"review_on": "2099-01-01", "reason": "r"}, "resume": {}, "evaluate": {"rating": 5},
    "callback": {"rating": 5}, "reopen": {"reason": "r"}, "correct-location": {"grid": "350502001001002"},
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_outside_jurisdiction_is_404_like_nonexistent(flow, as_user, action):
    number = flow.reported()
    before = state(number)
    outsider = as_user("dispatcher2")  # the other street's dispatcher
    hidden = error_of(outsider.post(f"/cases/{number}/{action}", ACTIONS[action]), 404)
    missing = error_of(outsider.post(f"/cases/350502-20000101-99999/{action}", ACTIONS[action]), 404)
    assert hidden == missing
    assert state(number) == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_anonymous_is_401(flow, as_user, action):
    number = flow.reported()
    assert error_of(as_user(None).post(f"/cases/{number}/{action}", ACTIONS[action]), 401)["code"] == "unauthenticated"


ROLE_WITHOUT = {
    "accept": "leader", "reject": "leader", "merge": "leader", "dispatch": "worker", "start": "leader",
    "return": "worker", "request-extension": "worker", "decide-extension": "staff", "feedback": "worker",
    "verify": "leader", "close": "worker", "self-resolve": "leader", "supervise": "worker", "escalate": "worker",
    "hang": "staff", "resume": "staff", "evaluate": "worker", "callback": "worker", "reopen": "worker",
    "correct-location": "leader",
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_role_without_the_right_is_403(flow, as_user, action):
    number = flow.reported()
    before = state(number)
    body = dict(ACTIONS[action])
    if action == "merge":
        body["into"] = flow.reported()
    error = error_of(as_user(ROLE_WITHOUT[action]).post(f"/cases/{number}/{action}", body), 403)
    assert error["code"] == "role_forbidden"
    assert state(number) == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("body", [b"{", b"[]", b'{"unknown_field": 1}', '{"note": "' .encode() + b"x" * 10_000 + b'"}'])
def test_bad_bodies_are_4xx_for_every_action(flow, as_user, action, body):
    number = flow.reported()
    before = state(number)
    r = as_user("dispatcher").post(f"/cases/{number}/{action}", body)
    assert 400 <= r.status_code < 500, r.content
    error_of(r, r.status_code)
    assert state(number) == before


def test_get_on_an_action_is_405(flow, as_user):
    number = flow.reported()
    error = error_of(as_user("dispatcher").get(f"/cases/{number}/accept"), 405)
    assert error["code"] == "method_not_allowed" and error["details"]["allowed"] == ["POST"]
