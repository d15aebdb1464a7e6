"""Warning services: acknowledge, close, turn into a case — rights, territory, states,
audit, and nothing written on a refusal."""

import datetime as dt

import pytest

from gridgov.cases.models import Case, TimelineEntry
from gridgov.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from gridgov.insight import services, warnings
from gridgov.insight.models import EarlyWarning
from gridgov.privacy.models import AuditRecord
from tests.factories import build_world

from .warning_data import AT, report, spread


@pytest.fixture
def w(db):
    return build_world()


@pytest.fixture
def surge(w):
    """An open surge warning in grid 0 (street 1, community 1)."""
    spread(w, 9, days=6, grid=0, cat="litter")
    warnings.scan(at=AT)
    return EarlyWarning.objects.get(kind="surge")


def test_acknowledge_then_close(w, surge):
    dispatcher = w.users["dispatcher"]
    services.acknowledge_warning(actor=dispatcher, warning=surge, note="已安排巡查")
    surge.refresh_from_db()
    assert surge.state == "acknowledged" and surge.acknowledged_by == dispatcher and surge.note == "已安排巡查"
    services.close_warning(actor=w.users["leader"], warning=surge, note="已整治")
    surge.refresh_from_db()
    assert surge.state == "closed" and surge.closed_by == w.users["leader"] and surge.note == "已安排巡查\n已整治"
    actions = list(AuditRecord.objects.filter(object_id=str(surge.pk), object_type="insight.earlywarning")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["warning.raise", "warning.acknowledge", "warning.close"]
    with pytest.raises(IllegalTransition):
        services.acknowledge_warning(actor=dispatcher, warning=surge)
    with pytest.raises(IllegalTransition):
        services.close_warning(actor=dispatcher, warning=surge)


def test_close_straight_from_open(w, surge):
    services.close_warning(actor=w.users["staff"], warning=surge, note="误报")
    surge.refresh_from_db()
    assert surge.state == "closed" and surge.acknowledged_at is not None


@pytest.mark.parametrize("name", ["dispatcher2", "worker_other"])
def test_outside_the_territory_is_not_found(w, surge, name):
    with pytest.raises(NotFound):
        services.acknowledge_warning(actor=w.users[name], warning=surge)
    assert EarlyWarning.objects.get(pk=surge.pk).state == "open"


@pytest.mark.parametrize("name", ["resident", "handler", "auditor", "worker"])
def test_roles_without_warnings_never_see_them(w, surge, name):
    assert not EarlyWarning.objects.restrict(w.users[name]).exists()
    with pytest.raises(NotFound):
        services.close_warning(actor=w.users[name], warning=surge)


def test_scoping_of_the_list(w, surge):
    seen = {n: EarlyWarning.objects.restrict(w.users[n]).count()
            for n in ("dispatcher", "dispatcher2", "district_dispatcher", "staff", "leader", "admin")}
    assert seen == {"dispatcher": 1, "dispatcher2": 0, "district_dispatcher": 1, "staff": 1, "leader": 1, "admin": 1}


def test_to_case_reports_a_linked_case_through_intake(w, surge):
    dispatcher = w.users["dispatcher"]
    before = Case.objects.count()
    warning, case = services.warning_to_case(actor=dispatcher, warning=surge, note="集中整治")
    assert Case.objects.count() == before + 1
    assert warning.case == case and warning.state == "acknowledged"
    assert case.grid == w.grids[0] and case.category == w.cats["litter"] and case.status == "reported"
    assert case.owner_region == w.street and case.title == surge.title
    assert f"预警 #{surge.pk}" in case.description
    entry = TimelineEntry.objects.get(case=case, action="from_warning")
    assert entry.data == {"warning": surge.pk, "rule": "surge"} and not entry.public
    assert AuditRecord.objects.filter(action="warning.to_case", data__case=case.number).exists()
    assert AuditRecord.objects.filter(action="case.report", object_id=str(case.pk)).exists()
    with pytest.raises(Conflict):
        services.warning_to_case(actor=dispatcher, warning=surge)
    assert Case.objects.count() == before + 1


def test_to_case_with_title_and_category(w, surge):
    _, case = services.warning_to_case(actor=w.users["staff"], warning=surge, title="金山社区垃圾集中整治",
                                       category=w.cats["road"])
    assert case.title == "金山社区垃圾集中整治" and case.category == w.cats["road"]


def test_to_case_refusals_write_nothing(w, surge):
    before = (Case.objects.count(), AuditRecord.objects.count())
    with pytest.raises(Forbidden):  # a leader watches, does not report cases
        services.warning_to_case(actor=w.users["leader"], warning=surge)
    with pytest.raises(NotFound):
        services.warning_to_case(actor=w.users["dispatcher2"], warning=surge)
    w.cats["litter"].active = False
    w.cats["litter"].save()
    with pytest.raises(InvalidInput):  # the intake service refuses an inactive category
        services.warning_to_case(actor=w.users["dispatcher"], warning=surge)
    surge.refresh_from_db()
    assert surge.case is None and surge.state == "open"
    services.close_warning(actor=w.users["dispatcher"], warning=surge)
    with pytest.raises(IllegalTransition):
        services.warning_to_case(actor=w.users["dispatcher"], warning=surge)
    assert Case.objects.count() == before[0] and AuditRecord.objects.count() == before[1] + 1


def test_region_level_warning_becomes_a_region_case(w):
    from gridgov.insight.models import WarningRule

    past = AT - dt.timedelta(days=1)
    cases = [report(w, grid=0) for _ in range(3)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(owner_department=w.depts["zf"], due_at=past)
    WarningRule.objects.filter(code="overdue-pileup").update(params={"min_cases": 3})
    warnings.scan(at=AT)
    warning = EarlyWarning.objects.get(kind="overdue_pileup")
    assert warning.grid is None and warning.owner_department == w.depts["zf"]
    _, case = services.warning_to_case(actor=w.users["dispatcher"], warning=warning)
    assert case.grid is None and case.region == w.street and case.category is None


def test_note_too_long_is_refused(w, surge):
    with pytest.raises(InvalidInput):
        services.acknowledge_warning(actor=w.users["dispatcher"], warning=surge, note="长" * 2001)
    assert EarlyWarning.objects.get(pk=surge.pk).state == "open"
