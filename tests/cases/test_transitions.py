"""Every allowed transition of the case loop, and a representative set of forbidden ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridgov.cases import services as cs
from gridgov.cases.choices import Closure, SlaState, Status
from gridgov.cases.models import Assignment, Case, CaseFollower, Notification, TimelineEntry
from gridgov.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from gridgov.privacy.models import AuditRecord
from tests.factories import build_world, photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    return build_world()


def report(w, **kw):
    args = dict(actor=w.users["worker"], channel="patrol", title="路边暴露垃圾", description="垃圾堆放", category=w.cats["litter"], grid=w.grids[0])
    args.update(kw)
    return cs.report_case(**args)


def accepted(w, **kw):
    return cs.accept_case(actor=w.users["dispatcher"], case=report(w, **kw))


def dispatched(w, **kw):
    return cs.dispatch_case(actor=w.users["dispatcher"], case=accepted(w, **kw), department=w.depts["zf"])


def in_handling(w, **kw):
    return cs.start_handling(actor=w.users["handler"], case=dispatched(w, **kw))


def handled(w, **kw):
    return cs.submit_feedback(actor=w.users["handler"], case=in_handling(w, **kw), result="已清理", photos=[photo()])


def closed(w, **kw):
    return cs.verify_case(actor=w.users["worker"], case=handled(w, **kw), passed=True)


def actions(case):
    return list(TimelineEntry.objects.filter(case=case).values_list("action", flat=True))


def test_report_numbers_locates_and_records(w):
    case = report(w)
    assert case.status == Status.REPORTED and case.is_open
    today = timezone.localdate()
    assert case.number == f"350502-{today:%Y%m%d}-00001"
    assert report(w).number.endswith("-00002")
    assert case.scope_path == w.grids[0].path
    assert case.owner_region == w.street  # intake at the street command centre
    assert actions(case) == ["report"]
    assert AuditRecord.objects.filter(action="case.report", object_id=str(case.pk)).exists()


def test_numbering_never_caps(w, settings):
    from gridgov.cases import numbering

    day = timezone.localdate()
    from gridgov.cases.models import CaseNumberCounter

    CaseNumberCounter.objects.create(prefix="350502", day=day, last=99_999)
    assert numbering.next_number("350502", day) == f"350502-{day:%Y%m%d}-100000"


def test_full_loop_to_evaluation(w):
    case = report(w, actor=w.users["resident"], channel="resident", photos=[photo()])
    case = cs.accept_case(actor=w.users["dispatcher"], case=case)
    assert case.status == Status.ACCEPTED and case.due_at and case.warn_at and case.warn_at < case.due_at
    assert case.sla_state == SlaState.NORMAL
    suggestion = cs.suggest_dispatch(case)
    assert suggestion.department == w.depts["zf"] and suggestion.source == "matrix"
    case = cs.dispatch_case(actor=w.users["dispatcher"], case=case, department=suggestion.department)
    assert case.status == Status.DISPATCHED
    assert Assignment.objects.get(case=case).followed_suggestion is True
    assert Notification.objects.filter(recipient=w.users["handler"], case=case, kind="dispatched").exists()
    case = cs.start_handling(actor=w.users["handler"], case=case)
    case = cs.submit_feedback(actor=w.users["handler"], case=case, result="已清理", photos=[photo()])
    assert case.status == Status.HANDLED
    case = cs.verify_case(actor=w.users["worker"], case=case, passed=True)
    assert case.status == Status.CLOSED and case.closure == Closure.RESOLVED and not case.is_open
    assert case.closed_on_time is True
    assert Notification.objects.filter(recipient=w.users["resident"], case=case, kind="closed").exists()
    case = cs.evaluate_case(actor=w.users["resident"], case=case, rating=5, comment="很及时")
    assert case.status == Status.EVALUATED and case.rating == 5
    assert actions(case) == ["report", "accept", "dispatch", "start", "feedback", "verify", "evaluate"]
    assert AuditRecord.objects.filter(object_id=str(case.pk)).count() == 7
    assert case.photos.count() == 2


def test_reject_with_reason(w):
    case = cs.reject_case(actor=w.users["dispatcher"], case=report(w), reason="非本平台受理范围")
    assert case.status == Status.REJECTED and case.closure == Closure.REJECTED and not case.is_open
    with pytest.raises(InvalidInput):
        cs.reject_case(actor=w.users["dispatcher"], case=report(w), reason="  ")


def test_merge_moves_reporters_to_survivor(w):
    survivor = accepted(w)
    dup = report(w, actor=w.users["resident"], channel="resident")
    dup = cs.merge_case(actor=w.users["dispatcher"], case=dup, into=survivor)
    assert dup.status == Status.MERGED and dup.duplicate_of == survivor and dup.closure == Closure.DUPLICATE
    assert CaseFollower.objects.filter(case=survivor, user=w.users["resident"]).exists()
    # The resident follows the survivor and may see it; they are told when it closes.
    assert Case.objects.restrict(w.users["resident"]).filter(pk=survivor.pk).exists()
    survivor = cs.dispatch_case(actor=w.users["dispatcher"], case=survivor, department=w.depts["zf"])
    survivor = cs.start_handling(actor=w.users["handler"], case=survivor)
    survivor = cs.submit_feedback(actor=w.users["handler"], case=survivor, result="ok")
    cs.verify_case(actor=w.users["worker"], case=survivor, passed=True)
    assert Notification.objects.filter(recipient=w.users["resident"], case=survivor, kind="closed").exists()


def test_merge_into_itself_or_closed_is_refused(w):
    a = report(w)
    with pytest.raises(InvalidInput):
        cs.merge_case(actor=w.users["dispatcher"], case=a, into=a)
    done = closed(w)
    with pytest.raises(IllegalTransition):
        cs.merge_case(actor=w.users["dispatcher"], case=a, into=done)


def test_self_resolve_needs_category_right_and_photos(w):
    case = cs.self_resolve_case(actor=w.users["worker"], case=report(w), result="已清理", before_photos=[photo()], after_photos=[photo()])
    assert case.status == Status.CLOSED and case.self_resolved and case.closure == Closure.RESOLVED
    with pytest.raises(InvalidInput):
        cs.self_resolve_case(actor=w.users["worker"], case=report(w), result="x", before_photos=[photo()], after_photos=[])
    with pytest.raises(IllegalTransition):
        cs.self_resolve_case(actor=w.users["worker"], case=report(w, category=w.cats["road"]), result="x",
                             before_photos=[photo()], after_photos=[photo()])


def test_verification_failure_is_rework(w):
    case = cs.verify_case(actor=w.users["worker"], case=handled(w), passed=False, note="仍有垃圾")
    assert case.status == Status.IN_HANDLING and case.rework_count == 1
    assert Notification.objects.filter(recipient=w.users["handler"], kind="rework").exists()
    with pytest.raises(InvalidInput):
        cs.verify_case(actor=w.users["worker"], case=handled(w), passed=False, note="")


def test_return_then_redispatch(w):
    case = cs.return_case(actor=w.users["handler"], case=dispatched(w), reason="属供电公司职责", responsible_party="国网泉州供电公司")
    assert case.status == Status.RETURNED and case.owner_department is None and case.responsible_party == "国网泉州供电公司"
    assert case.owner_region == w.street
    case = cs.dispatch_case(actor=w.users["dispatcher"], case=case, department=w.depts["wy"])
    assert case.status == Status.DISPATCHED and case.owner_department == w.depts["wy"]
    # The street's handler no longer holds it but still sees what it handled.
    assert Case.objects.restrict(w.users["handler"]).filter(pk=case.pk).exists()
    with pytest.raises(Forbidden):
        cs.start_handling(actor=w.users["handler"], case=case)


def test_dispatch_to_lower_level_then_community_handles(w):
    case = cs.dispatch_case(actor=w.users["dispatcher"], case=accepted(w), region=w.community)
    assert case.owner_region == w.community and case.owner_department is None
    case = cs.start_handling(actor=w.users["staff"], case=case)
    case = cs.submit_feedback(actor=w.users["staff"], case=case, result="社区已处理")
    assert case.status == Status.HANDLED


def test_dispatch_refuses_department_outside_the_chain(w):
    with pytest.raises(InvalidInput):
        cs.dispatch_case(actor=w.users["dispatcher"], case=accepted(w), department=w.depts["zf2"])
    with pytest.raises(InvalidInput):
        cs.dispatch_case(actor=w.users["dispatcher"], case=accepted(w), department=w.depts["zf"], region=w.community)
    with pytest.raises(InvalidInput):
        cs.dispatch_case(actor=w.users["dispatcher"], case=accepted(w), region=w.other_community)


def test_extension_approved_moves_deadline(w):
    case = in_handling(w)
    before = case.due_at
    cs.request_extension(actor=w.users["handler"], case=case, extra_working_days=2, reason="需协调施工单位")
    with pytest.raises(IllegalTransition):
        cs.request_extension(actor=w.users["handler"], case=case, extra_working_days=1, reason="again")
    case = cs.decide_extension(actor=w.users["dispatcher"], case=case, approve=True)
    assert case.due_at > before + timedelta(days=1)
    assert case.warn_at < case.due_at
    with pytest.raises(IllegalTransition):
        cs.decide_extension(actor=w.users["dispatcher"], case=case, approve=True)


def test_extension_refused_keeps_deadline_and_validates(w):
    case = in_handling(w)
    before = case.due_at
    with pytest.raises(InvalidInput):
        cs.request_extension(actor=w.users["handler"], case=case, extra_working_days=0, reason="x")
    cs.request_extension(actor=w.users["handler"], case=case, extra_working_days=3, reason="原因")
    with pytest.raises(Forbidden):
        cs.decide_extension(actor=w.users["handler"], case=case, approve=True)
    case = cs.decide_extension(actor=w.users["dispatcher"], case=case, approve=False, note="不符合延期条件")
    assert case.due_at == before


def test_close_without_verification_when_category_allows(w):
    case = handled(w, category=w.cats["ad"])
    case = cs.close_case(actor=w.users["dispatcher"], case=case, closure=Closure.RESOLVED)
    assert case.status == Status.CLOSED
    with pytest.raises(IllegalTransition):
        cs.close_case(actor=w.users["dispatcher"], case=handled(w), closure=Closure.RESOLVED)


def test_honest_closures(w):
    case = cs.close_case(actor=w.users["dispatcher"], case=accepted(w), closure=Closure.NOT_OURS, responsible_party="铁路部门")
    assert case.closure == Closure.NOT_OURS and case.responsible_party == "铁路部门"
    with pytest.raises(InvalidInput):
        cs.close_case(actor=w.users["dispatcher"], case=accepted(w), closure=Closure.NOT_RESOLVABLE, note="")
    case = cs.close_case(actor=w.users["dispatcher"], case=accepted(w), closure=Closure.NOT_RESOLVABLE, note="历史遗留产权纠纷")
    assert case.closure == Closure.NOT_RESOLVABLE
    with pytest.raises(InvalidInput):
        cs.close_case(actor=w.users["dispatcher"], case=accepted(w), closure="whatever")


def test_supervise_notifies_holder(w):
    case = cs.supervise_case(actor=w.users["leader"], case=dispatched(w), note="请加快处置")
    assert case.supervision_count == 1
    assert Notification.objects.filter(recipient=w.users["handler"], kind="supervised").exists()
    with pytest.raises(IllegalTransition):
        cs.supervise_case(actor=w.users["leader"], case=report(w), note="x")


def test_escalate_up_the_levels(w):
    case = cs.escalate_case(actor=w.users["dispatcher"], case=dispatched(w), reason="涉及多部门，需区级协调")
    assert case.owner_region == w.district and case.status == Status.ACCEPTED and case.escalation_count == 1
    with pytest.raises(Forbidden):  # the street no longer holds it
        cs.dispatch_case(actor=w.users["dispatcher"], case=case, department=w.depts["zf"])
    case = cs.dispatch_case(actor=w.users["district_dispatcher"], case=case, department=w.depts["cg"])
    assert case.owner_department == w.depts["cg"]
    case = cs.escalate_case(actor=None, case=case, reason="超期自动上报")
    assert case.owner_region == w.city
    with pytest.raises(IllegalTransition):
        cs.escalate_case(actor=None, case=case, reason="again")


def test_long_standing_and_resume(w):
    review = timezone.localdate() + timedelta(days=30)
    case = cs.hang_case(actor=w.users["dispatcher"], case=dispatched(w), review_on=review, reason="待旧改项目启动")
    assert case.status == Status.LONG_STANDING and case.due_at is None and case.review_on == review
    with pytest.raises(InvalidInput):
        cs.hang_case(actor=w.users["dispatcher"], case=accepted(w), review_on=timezone.localdate(), reason="x")
    case = cs.resume_case(actor=w.users["dispatcher"], case=case)
    assert case.status == Status.ACCEPTED and case.due_at is not None


def test_reopen_within_window_only(w):
    case = cs.evaluate_case(actor=w.users["staff"], case=closed(w), rating=3, callback=True)
    assert case.evaluated_by_callback
    case = cs.reopen_case(actor=w.users["dispatcher"], case=case, reason="问题复发")
    assert case.status == Status.ACCEPTED and case.reopen_count == 1 and case.is_open and case.closed_at is None
    old = closed(w, actor=w.users["resident"], channel="resident")
    Case.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=30))
    with pytest.raises(IllegalTransition):
        cs.reopen_case(actor=w.users["resident"], case=old, reason="又坏了")
    fresh = closed(w, actor=w.users["resident"], channel="resident")
    with pytest.raises(NotFound):  # another resident does not even see it
        cs.reopen_case(actor=w.users["resident2"], case=fresh, reason="x")
    assert cs.reopen_case(actor=w.users["resident"], case=fresh, reason="又坏了").status == Status.ACCEPTED


def test_correct_location(w):
    case = cs.correct_location(actor=w.users["dispatcher"], case=report(w), grid=w.grids[1])
    assert case.grid == w.grids[1] and case.scope_path == w.grids[1].path
    with pytest.raises(InvalidInput):
        cs.correct_location(actor=w.users["dispatcher"], case=report(w), grid=w.grids[3])


# --- forbidden ---------------------------------------------------------------------------


def test_illegal_transitions_write_nothing(w):
    case = report(w)
    n_timeline, n_audit = TimelineEntry.objects.count(), AuditRecord.objects.count()
    for call in [
        lambda: cs.dispatch_case(actor=w.users["dispatcher"], case=case, department=w.depts["zf"]),
        lambda: cs.start_handling(actor=w.users["handler"], case=case),
        lambda: cs.submit_feedback(actor=w.users["handler"], case=case, result="x"),
        lambda: cs.verify_case(actor=w.users["worker"], case=case, passed=True),
        lambda: cs.evaluate_case(actor=w.users["worker"], case=case, rating=5),
        lambda: cs.reopen_case(actor=w.users["dispatcher"], case=case, reason="x"),
        lambda: cs.resume_case(actor=w.users["dispatcher"], case=case),
    ]:
        with pytest.raises((IllegalTransition, Forbidden)):
            call()
    assert TimelineEntry.objects.count() == n_timeline and AuditRecord.objects.count() == n_audit
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED


def test_closed_case_cannot_be_handled_again(w):
    case = closed(w)
    with pytest.raises(IllegalTransition):
        cs.submit_feedback(actor=w.users["handler"], case=case, result="again")
    with pytest.raises(IllegalTransition):
        cs.accept_case(actor=w.users["dispatcher"], case=case)


def test_roles_and_jurisdiction_are_enforced(w):
    case = report(w)
    with pytest.raises(Forbidden):  # a grid worker cannot accept
        cs.accept_case(actor=w.users["worker"], case=case)
    with pytest.raises(NotFound):  # another street's dispatcher does not see the case at all
        cs.accept_case(actor=w.users["dispatcher2"], case=case)
    with pytest.raises(Forbidden):  # a resident cannot dispatch
        cs.dispatch_case(actor=w.users["resident"], case=case, department=w.depts["zf"])
    case = dispatched(w)
    with pytest.raises(NotFound):  # another department never saw it
        cs.start_handling(actor=w.users["handler_other"], case=case)
    with pytest.raises(NotFound):
        cs.verify_case(actor=w.users["worker_other"], case=handled(w), passed=True)
    with pytest.raises(NotFound):
        cs.evaluate_case(actor=w.users["resident2"], case=closed(w, actor=w.users["resident"], channel="resident"), rating=4)


def test_accept_requires_category_and_valid_urgency(w):
    with pytest.raises(InvalidInput):
        cs.accept_case(actor=w.users["dispatcher"], case=report(w, category=None))
    with pytest.raises(InvalidInput):
        cs.accept_case(actor=w.users["dispatcher"], case=report(w), urgency="panic")
    case = cs.accept_case(actor=w.users["dispatcher"], case=report(w, category=None), category=w.cats["road"], urgency="urgent")
    assert case.due_at - case.accepted_at == timedelta(hours=w.cats["road"].urgent_limit_hours)


def test_report_refuses_bad_input_without_writing(w):
    n = Case.objects.count()
    bad = [
        dict(title=""),
        dict(channel="fax"),
        dict(urgency="later"),
        dict(grid=None, lat=24.91),
        dict(grid=None),
        dict(grid="999999999999999"),
        dict(photos=[photo().__class__("x.jpg", b"not an image", content_type="image/jpeg")]),
    ]
    for kw in bad:
        with pytest.raises(InvalidInput):
            report(w, **kw)
    assert Case.objects.count() == n


def test_rating_validation(w):
    case = closed(w, actor=w.users["resident"], channel="resident")
    for bad in (0, 6, "5", True):
        with pytest.raises(InvalidInput):
            cs.evaluate_case(actor=w.users["resident"], case=case, rating=bad)


def test_restrict_scopes(w):
    mine = report(w)  # in grid 0 of 金山社区 (street 海滨)
    elsewhere = report(w, grid=w.grids[3], actor=w.users["worker_other"])  # 聚宝社区, street 临江
    def ids(user):
        return set(Case.objects.restrict(user).values_list("pk", flat=True))
    assert ids(w.users["dispatcher"]) == {mine.pk}
    assert ids(w.users["dispatcher2"]) == {elsewhere.pk}
    assert ids(w.users["district_dispatcher"]) == {mine.pk, elsewhere.pk}
    assert ids(w.users["worker_other"]) == {elsewhere.pk}
    assert ids(w.users["handler"]) == set()
    assert ids(w.users["resident"]) == set()
    assert ids(w.users["auditor"]) == set()
    assert ids(w.users["admin"]) == {mine.pk, elsewhere.pk}
