"""Duplicate candidates: the fingerprint, the database index written at intake, the lookup
(window, radius per category, open cases, scope), the API and one-click merge end to end."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridgov.cases import services as cs
from gridgov.cases.models import Case, Notification
from gridgov.insight import duplicates as dup
from gridgov.insight.models import DuplicateKey
from tests.factories import build_world

# Inside金山社区第1网格 (118.50–118.51, 24.90–24.92); 0.0001° of latitude ≈ 11 m.
LAT, LON = 24.905, 118.505


@pytest.fixture
def w(db, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_SUGGEST_AT_INTAKE": "off"}
    return build_world()


def report(w, *, title="金山路12号门口路灯不亮", description="晚上一片漆黑，行人不便", lat=LAT, lon=LON, actor=None,
           category="litter", channel="patrol", **kw):
    return cs.report_case(actor=actor or w.users["worker"], channel=channel, title=title, description=description,
                          category=w.cats[category] if category else None, lat=lat, lon=lon, **kw)


# --- the fingerprint ---------------------------------------------------------------------


def test_shingles_drop_punctuation_width_and_stop_bigrams():
    assert dup.shingles("路灯不亮！") == dup.shingles("路灯 不亮")
    assert dup.shingles("ＡＢ路灯") == dup.shingles("ab路灯")
    assert "问题" not in dup.shingles("关于路灯的问题")
    # A short title takes the start of the description.
    assert "井盖" in dup.shingles("请处理", "井盖缺失")
    assert dup.shingles("", "") == frozenset()


def test_signature_is_deterministic_and_estimates_jaccard():
    a = dup.shingles("金山路十二号门口路灯坏了好几天不亮")
    b = dup.shingles("金山路十二号路灯坏了好几天一直不亮")
    sa, sb = dup.signature(a), dup.signature(b)
    assert (sa == dup.signature(frozenset(sorted(a)))).all()  # order of shingles does not matter
    estimate = float((sa == sb).mean())
    assert abs(estimate - dup.similarity(a, b)) < 0.2
    assert dup.signature(frozenset()) is None


def test_keys_depend_on_text_and_bucket():
    fa = dup.Fingerprint.of("金山路路灯不亮已经三天")
    fb = dup.Fingerprint.of("金山路路灯不亮已经三天了")
    fc = dup.Fingerprint.of("学校门口违章停车堵塞交通")
    assert len(dup.keys_for(fa.bands, 1)) == dup.BANDS
    assert set(dup.keys_for(fa.bands, 1)) & set(dup.keys_for(fb.bands, 1))
    assert not set(dup.keys_for(fa.bands, 1)) & set(dup.keys_for(fa.bands, 2))
    assert not set(dup.keys_for(fa.bands, 1)) & set(dup.keys_for(fc.bands, 1))
    assert all(0 <= k < 2**63 for k in dup.keys_for(fa.bands, 7))


def test_search_buckets_cover_every_point_within_one_cell():
    cell = 300.0
    for lat, lon in [(24.905, 118.505), (39.9, 116.4), (-33.9, 151.2), (0.0, 0.0)]:
        around = set(dup.search_buckets(lat=lat, lon=lon, grid_id=None, region_id=None, cell_m=cell))
        for bearing in range(0, 360, 15):
            for metres in (0, 100, 200, 299):
                import math

                dlat = metres * math.cos(math.radians(bearing)) / dup.METRES_PER_DEGREE
                dlon = metres * math.sin(math.radians(bearing)) / (dup.METRES_PER_DEGREE * math.cos(math.radians(lat)))
                home = dup.home_bucket(lat=lat + dlat, lon=lon + dlon, grid_id=None, region_id=None, cell_m=cell)
                assert home in around, (lat, lon, bearing, metres)


def test_distance():
    assert dup.distance_m(LAT, LON, LAT, LON) == 0
    assert 10.5 < dup.distance_m(LAT, LON, LAT + 0.0001, LON) < 11.6


# --- the index at intake and the lookup --------------------------------------------------


def test_intake_files_the_keys_in_one_statement(w):
    first = report(w)
    assert DuplicateKey.objects.filter(case=first).count() == dup.BANDS
    with CaptureQueriesContext(connection) as on:
        report(w, title="另一处路灯不亮")
    inserts = [q["sql"] for q in on.captured_queries if "insight_duplicatekey" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].upper().startswith("INSERT")


def test_intake_without_index_when_switched_off(w, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "DUPLICATE_INDEX_AT_INTAKE": False}
    assert not DuplicateKey.objects.filter(case=report(w)).exists()


def test_finds_a_nearby_similar_open_case(w):
    first = report(w)
    second = report(w, title="金山路12号路灯不亮了", lat=LAT + 0.0001, actor=w.users["worker"])
    found = dup.find_duplicates(second)
    assert [c.case.pk for c in found] == [first.pk]
    c = found[0]
    assert 0.3 < c.score <= 1 and 5 < c.distance_m < 20 and c.radius_m == 100 and "米" in c.reason
    # Unrelated text at the same spot is not a duplicate.
    other = report(w, title="学校门口违章停车堵塞交通", description="")
    assert dup.find_duplicates(other) == []


def test_radius_comes_from_the_category(w):
    w.cats["litter"].duplicate_radius_m = 30
    w.cats["litter"].save()
    w.cats["road"].duplicate_radius_m = 300
    w.cats["road"].save()
    report(w)
    # ~55 m away: outside 30 m for this category …
    assert dup.find_duplicates(report(w, title="金山路12号门口路灯不亮", lat=LAT + 0.0005)) == []
    # … inside 300 m for the other.
    report(w, title="金山路十二号路面塌陷大坑", category="road")
    near = report(w, title="金山路十二号路面塌陷大坑危险", category="road", lat=LAT + 0.002)  # ~220 m
    assert len(dup.find_duplicates(near)) == 1


def test_only_open_cases_of_the_window(w, settings):
    old = report(w)
    Case.objects.filter(pk=old.pk).update(reported_at=timezone.now() - timedelta(days=40))
    settings.GRIDGOV = {**settings.GRIDGOV, "DUPLICATE_WINDOW_DAYS": 30}
    assert dup.find_duplicates(report(w)) == []
    settings.GRIDGOV = {**settings.GRIDGOV, "DUPLICATE_WINDOW_DAYS": 60}
    assert [c.case.pk for c in dup.find_duplicates(report(w))][-1] == old.pk
    closed = cs.reject_case(actor=w.users["dispatcher"], case=report(w, title="金山路12号门口路灯一直不亮"), reason="重复")
    assert closed.pk not in [c.case.pk for c in dup.find_duplicates(report(w))]


def test_without_location_same_grid_counts(w):
    first = report(w, lat=None, lon=None, grid=w.grids[0])
    same = report(w, lat=None, lon=None, grid=w.grids[0])
    elsewhere = report(w, lat=None, lon=None, grid=w.grids[1])
    assert dup.find_duplicates(same)[0].case.pk == first.pk
    assert dup.find_duplicates(same)[0].distance_m is None
    assert first.pk not in [c.case.pk for c in dup.find_duplicates(elsewhere)]
    # A located case also finds the unlocated ones filed under its grid.
    located = report(w)
    assert {first.pk, same.pk} <= {c.case.pk for c in dup.find_duplicates(located)}


def test_lookup_is_scoped_to_the_user(w):
    mine = report(w)
    theirs = report(w, actor=w.users["resident"], channel="resident")
    # The resident may see only their own report, so the staff case is not offered to them.
    assert [c.case.pk for c in dup.find_duplicates(theirs, user=w.users["resident"])] == []
    assert [c.case.pk for c in dup.find_duplicates(theirs, user=w.users["dispatcher"])] == [mine.pk]
    assert [c.case.pk for c in dup.find_duplicates(theirs, user=w.users["dispatcher2"])] == []


def test_reindex_and_prune(w):
    a = report(w)
    b = report(w)
    DuplicateKey.objects.all().delete()
    assert dup.find_duplicates(b) == []
    assert dup.reindex() == 2
    assert [c.case.pk for c in dup.find_duplicates(b)] == [a.pk]
    cs.reject_case(actor=w.users["dispatcher"], case=a, reason="无效")
    assert dup.prune() == dup.BANDS
    assert DuplicateKey.objects.filter(case=b).count() == dup.BANDS


# --- API and one-click merge, end to end -------------------------------------------------


@pytest.fixture
def api(w, client):
    from gridgov.accounts.services import issue_token
    from tests.api.conftest import Api

    def make(name):
        return Api(client, issue_token(actor=None, user=w.users[name], name="test")[1])

    return make


def test_api_duplicates_merge_and_every_reporter_is_told_at_closure(w, api):
    first = api("resident").post("/cases", {"channel": "resident", "title": "金山路12号门口路灯不亮", "lat": LAT, "lon": LON,
                                           "description": "晚上很黑"})
    assert first.status_code == 201, first.content
    second = api("resident2").post("/cases", {"channel": "resident", "title": "金山路12号路灯坏了不亮",
                                             "lat": LAT + 0.0001, "lon": LON + 0.0001})
    assert second.status_code == 201
    n1, n2 = first.json()["number"], second.json()["number"]

    r = api("dispatcher").get(f"/cases/{n2}/duplicates")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["case"] == n2 and body["window_days"] == 90
    [cand] = body["candidates"]
    assert cand["number"] == n1 and cand["score"] > 0.2 and 10 < cand["distance_m"] < 20 and cand["radius_m"] == 100
    assert cand["reason"] and n1 in cand["merge"]

    # Out of scope: 404 for the case; the resident who reported it sees it, but residents may
    # not use the command centre's view.
    assert api("dispatcher2").get(f"/cases/{n2}/duplicates").status_code == 404
    assert api("resident2").get(f"/cases/{n2}/duplicates").status_code == 403
    assert api("dispatcher").get("/cases/nope/duplicates").status_code == 404

    # One click: merge the new report into the candidate.
    merged = api("dispatcher").post(f"/cases/{n2}/merge", {"into": n1})
    assert merged.status_code == 200, merged.content
    assert merged.json()["status"] == "merged" and merged.json()["duplicate_of"] == n1
    # A merged case is no longer a candidate for anyone.
    third = report(w, title="金山路12号门口路灯不亮了")
    assert n2 not in [c.case.number for c in dup.find_duplicates(third)]

    # Both reporters follow the survivor and see it; both are told when it closes.
    survivor = Case.objects.get(number=n1)
    assert api("resident2").get(f"/cases/{n1}").status_code == 200
    survivor = cs.accept_case(actor=w.users["dispatcher"], case=survivor, category=w.cats["litter"])
    survivor = cs.dispatch_case(actor=w.users["dispatcher"], case=survivor, department=w.depts["zf"])
    survivor = cs.start_handling(actor=w.users["handler"], case=survivor)
    survivor = cs.submit_feedback(actor=w.users["handler"], case=survivor, result="已修复")
    cs.verify_case(actor=w.users["worker"], case=survivor, passed=True)
    told = set(Notification.objects.filter(case=survivor, kind="closed").values_list("recipient__username", flat=True))
    assert {"resident", "resident2"} <= told


def test_keys_in_many_buckets_equal_one_by_one():
    fp = dup.Fingerprint.of("金山路路灯不亮已经三天")
    many = dup.keys_in(fp.bands, [3, 99, 2**40]).tolist()
    assert many == dup.keys_for(fp.bands, 3) + dup.keys_for(fp.bands, 99) + dup.keys_for(fp.bands, 2**40)
