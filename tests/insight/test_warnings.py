"""Early-warning rules: each fires when it should and stays silent on a normal baseline;
the scan deduplicates; parameters are checked."""

import datetime as dt
import math

import pytest

from gridgov.cases.models import Case
from gridgov.errors import InvalidInput
from gridgov.insight import identity, warnings
from gridgov.insight.models import EarlyWarning, RollupState, WarningRule, WarningState
from gridgov.privacy.models import AuditRecord
from tests.factories import build_world, verified_login

from .warning_data import AT, report, spread


@pytest.fixture
def w(db):
    return build_world()


def rule(code: str, **params) -> WarningRule:
    r = WarningRule.objects.get(code=code)
    if params:
        r.params = {**r.params, **params}
        r.save()
    return r


def fired(code: str, at=AT):
    return warnings.evaluate(rule(code), at=at).firings


# --- the statistic ---------------------------------------------------------------------


@pytest.mark.parametrize(("count", "mean"), [(0, 1.0), (1, 0.5), (5, 0.5), (5, 5.0), (12, 3.0), (40, 2.0), (3, 10.0), (200, 150.0)])
def test_poisson_tail_matches_scipy(count, mean):
    from scipy.stats import poisson

    expected = poisson.sf(count - 1, mean)
    assert math.isclose(warnings.poisson_sf(count, mean), expected, rel_tol=1e-9, abs_tol=1e-15)


# --- surge -----------------------------------------------------------------------------


def test_surge_fires_on_a_spike_against_the_cells_own_baseline(w):
    spread(w, 8, days=56, grid=0, cat="litter", offset_days=7)  # about one a week for eight weeks
    spread(w, 9, days=6, grid=0, cat="litter")  # nine this week
    (f,) = fired("surge")
    assert f.grid == w.grids[0] and f.category == w.cats["litter"]
    assert f.evidence["count"] == 9 and f.evidence["expected"] == 1.0 and f.evidence["baseline_cases"] == 8
    assert f.evidence["p_value"] < 1e-5 and f.severity == "medium"
    assert len(f.evidence["cases"]) == 9
    assert f.owner_region == w.street and f.scope_path == w.grids[0].path


def test_surge_is_silent_on_a_normal_week(w):
    spread(w, 48, days=56, grid=1, cat="ad", offset_days=7)  # six a week
    spread(w, 7, days=6, grid=1, cat="ad")  # seven this week: within the usual
    spread(w, 4, days=6, grid=2, cat="road")  # new cell but below min_cases
    assert fired("surge") == []


def test_surge_threshold_is_configurable(w):
    spread(w, 16, days=56, grid=1, cat="ad", offset_days=7)  # two a week
    spread(w, 7, days=6, grid=1, cat="ad")  # p ≈ 0.0045
    assert fired("surge") == []
    assert len(warnings.evaluate(rule("surge", alpha=0.01), at=AT).firings) == 1


# --- repeated complaints ---------------------------------------------------------------


def test_repeat_address_matches_normalised_addresses(w):
    for i, address in enumerate(["金山路12号3栋", "金山路 12号 3栋", "金山路１２号３栋。"]):
        report(w, grid=0, cat="litter", address=address, ago=dt.timedelta(days=3 * i + 1), channel="resident")
    report(w, grid=1, address="笋浯路8号", channel="hotline")
    report(w, grid=1, address="笋浯路8号", channel="hotline")  # only two: silent
    for _ in range(3):
        report(w, grid=2, address="金山社区")  # too short to be one place
    (f,) = fired("repeat-address")
    assert f.evidence["count"] == 3 and f.evidence["address"] == "金山路12号3栋"  # the latest, as written
    assert f.subject_key == "address:" + identity.blind("金山路12号3栋") and "金山路" not in f.subject_key
    assert f.grid == w.grids[0] and f.severity == "medium"


def test_repeat_address_window_excludes_old_cases(w):
    for days in (1, 2, 40):
        report(w, grid=0, address="金山路12号3栋", ago=dt.timedelta(days=days))
    assert fired("repeat-address") == []
    assert len(warnings.evaluate(rule("repeat-address", window_days=60), at=AT).firings) == 1


def test_repeat_reporter_by_phone_on_resident_channels_only(w):
    for phone, channel in [("13800001111", "hotline"), ("+86 138-0000-1111", "resident"), ("0086 13800001111", "walk_in")]:
        report(w, grid=1, cat="ad", phone=phone, channel=channel)
    for _ in range(5):  # a grid worker's patrol reports are not repeated complaints
        report(w, grid=0, phone="13900002222", channel="patrol")
    (f,) = fired("repeat-reporter")
    assert f.evidence["count"] == 3 and f.evidence["reporter"] == "138****1111"
    assert "13800001111" not in str(f.evidence) and "13800001111" not in f.subject_key and "13800001111" not in f.title


def test_repeat_reporter_by_account(w):
    resident = w.users["resident"]
    for _ in range(3):
        report(w, grid=0, channel="resident", actor=resident)
    (f,) = fired("repeat-reporter")
    assert f.subject_key == "reporter:" + identity.blind(f"user:{resident.pk}")


def test_identity_keys():
    assert identity.reporter_key(user_id=None, phone="+86 138 0000 1111") == identity.reporter_key(user_id=5, phone="13800001111")
    assert identity.reporter_key(user_id=None, phone="") is None
    assert identity.reporter_key(user_id=7, phone="12") == "user:7"
    assert identity.address_key("金山社区") is None
    assert identity.address_key("Jinshan Rd. No.12") == identity.address_key("jinshan rd no 12")


# --- disputes --------------------------------------------------------------------------


def test_escalating_case_fires_on_repeated_reopen_and_escalation(w):
    calm = report(w, grid=0)
    hot = report(w, grid=1, cat="ad")
    Case.objects.filter(pk=calm.pk).update(escalation_count=1)
    Case.objects.filter(pk=hot.pk).update(reopen_count=1, escalation_count=1, rework_count=2)
    closed = report(w, grid=1)
    Case.objects.filter(pk=closed.pk).update(reopen_count=5, is_open=False, status="closed")
    (f,) = fired("escalating-case")
    assert f.subject_key == f"case:{hot.number}" and f.evidence["count"] == 4 and f.severity == "high"
    assert f.owner_region == hot.owner_region
    # limited to dispute categories it ignores the others
    assert warnings.evaluate(rule("escalating-case", categories=["02"]), at=AT).firings == []


def test_dispute_cluster_needs_categories_and_fires_on_a_cluster(w):
    spread(w, 3, days=10, grid=0, cat="road")
    spread(w, 2, days=10, grid=1, cat="road")
    run = warnings.evaluate(rule("dispute-cluster"), at=AT)
    assert run.firings == [] and run.note == "no categories configured"
    (f,) = warnings.evaluate(rule("dispute-cluster", categories=["02"]), at=AT).firings
    assert f.grid == w.grids[0] and f.evidence["count"] == 3


# --- overdue pile-up -------------------------------------------------------------------


def test_overdue_pileup_per_department(w):
    past = AT - dt.timedelta(days=1)
    cases = [report(w, grid=0) for _ in range(5)]
    Case.objects.filter(pk__in=[c.pk for c in cases[:4]]).update(owner_department=w.depts["zf"], due_at=past)
    Case.objects.filter(pk=cases[4].pk).update(owner_department=w.depts["zf"], due_at=AT + dt.timedelta(days=1))
    other = [report(w, grid=3) for _ in range(2)]
    Case.objects.filter(pk__in=[c.pk for c in other]).update(owner_department=w.depts["zf2"], due_at=past)
    assert fired("overdue-pileup") == []  # default threshold 10
    (f,) = warnings.evaluate(rule("overdue-pileup", min_cases=3, high_cases=4), at=AT).firings
    assert f.owner_department == w.depts["zf"] and f.evidence["count"] == 4 and f.severity == "high"
    assert f.scope_path == w.street.path and len(f.evidence["cases"]) == 4


# --- the scan: storing, deduplication, quiet period, dry run ---------------------------


def _address_trouble(w, n=3, address="金山路12号3栋"):
    for i in range(n):
        report(w, grid=0, address=address, ago=dt.timedelta(days=i + 1))


def test_scan_stores_once_and_refreshes_while_open(w):
    _address_trouble(w)
    first = warnings.scan(at=AT)
    (f,) = first.firings
    assert f.outcome == "new"
    warning = EarlyWarning.objects.get()
    assert warning.state == "open" and warning.rule.code == "repeat-address" and warning.fire_count == 1
    assert AuditRecord.objects.filter(action="warning.raise", object_id=str(warning.pk)).count() == 1
    report(w, grid=0, address="金山路12号3栋")
    second = warnings.scan(at=AT + dt.timedelta(minutes=15))
    assert [f.outcome for f in second.firings] == ["refreshed"]
    warning.refresh_from_db()
    assert EarlyWarning.objects.count() == 1 and warning.fire_count == 2 and warning.evidence["count"] == 4


def test_closed_warning_stays_quiet_then_fires_again(w):
    from gridgov.insight import services

    _address_trouble(w)
    warnings.scan(at=AT)
    warning = EarlyWarning.objects.get()
    services.close_warning(actor=w.users["dispatcher"], warning=warning, note="已处理")
    # as if it had been closed an hour after the scan
    EarlyWarning.objects.filter(pk=warning.pk).update(closed_at=AT + dt.timedelta(hours=1))
    soon = AT + dt.timedelta(hours=2)
    assert [f.outcome for f in warnings.scan(at=soon).firings] == ["quiet"]
    assert EarlyWarning.objects.count() == 1
    later = AT + dt.timedelta(hours=26)
    assert [f.outcome for f in warnings.scan(at=later).firings] == ["new"]
    assert EarlyWarning.objects.filter(state=WarningState.OPEN).count() == 1 and EarlyWarning.objects.count() == 2


def test_dry_run_writes_nothing(w):
    _address_trouble(w)
    result = warnings.scan(at=AT, dry_run=True)
    assert [f.outcome for f in result.firings] == ["would_raise"]
    assert not EarlyWarning.objects.exists() and result.rollup is None
    from gridgov.insight.models import CaseDayCount, RollupState

    assert not CaseDayCount.objects.exists() and not RollupState.objects.exists()


def test_open_unique_constraint_holds_in_the_database(w):
    from django.db import IntegrityError, transaction

    _address_trouble(w)
    warnings.scan(at=AT)
    warning = EarlyWarning.objects.get()
    warning.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        warning.save()


@pytest.mark.parametrize("params", [
    {"window_days": 0}, {"window_days": "7"}, {"alpha": 1.5}, {"min_cases": True}, {"channels": "hotline"},
    {"severity": "extreme"}, {"bogus": 1}, {"min_cases": -3}, {"quiet_hours": -1},
])
def test_bad_rule_parameters_are_refused_before_anything_is_written(w, params):
    _address_trouble(w)
    code = "surge" if "alpha" in params else "repeat-address"
    rule(code, **params)
    with pytest.raises(InvalidInput):
        warnings.scan(at=AT)
    assert not EarlyWarning.objects.exists() and not RollupState.objects.exists()


def test_forced_severity_and_disabled_rules(w):
    _address_trouble(w)
    rule("repeat-address", severity="high")
    assert [f.severity for f in warnings.scan(at=AT, dry_run=True).firings] == ["high"]
    WarningRule.objects.filter(code="repeat-address").update(enabled=False)
    assert warnings.scan(at=AT, dry_run=True).firings == []


def test_admin_refuses_bad_rule_parameters(w, client):
    verified_login(client, w.users["admin"])  # superusers sign in with a second factor
    r = client.post("/admin/insight/warningrule/add/", {"code": "surge-fast", "name": "快速激增", "kind": "surge",
                                                        "enabled": "on", "params": '{"alpha": 2}'})
    assert r.status_code == 200 and "alpha" in r.content.decode()
    assert not WarningRule.objects.filter(code="surge-fast").exists()
    r = client.post("/admin/insight/warningrule/add/", {"code": "surge-fast", "name": "快速激增", "kind": "surge",
                                                        "enabled": "on", "params": '{"window_days": 3}'})
    assert r.status_code == 302 and WarningRule.objects.get(code="surge-fast").params == {"window_days": 3}
