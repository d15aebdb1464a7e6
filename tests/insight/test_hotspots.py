"""Hot spots: the daily rollup, counting across rollup and case table, ranking, scoping, map layer."""

import datetime as dt

import pytest

from gridgov.cases.models import Case
from gridgov.insight import hotspots
from gridgov.insight.models import CaseDayCount, RollupState
from tests.factories import build_world

from .warning_data import AT, report, spread


@pytest.fixture
def w(db):
    return build_world()


def _live(since, until):
    """The reference answer: every case counted straight from the case table."""
    out = {}
    for c in Case.objects.filter(reported_at__gte=since, reported_at__lt=until):
        key = (c.grid_id, c.category_id)
        out[key] = out.get(key, 0) + 1
    return out


def test_rollup_and_case_table_give_the_same_counts(w):
    spread(w, 12, days=10, grid=0, cat="litter")
    spread(w, 5, days=10, grid=1, cat="ad")
    spread(w, 4, days=3, grid=3, cat="road")
    report(w, grid=2, cat=None, ago=dt.timedelta(days=2))  # uncategorised
    assert RollupState.objects.count() == 0
    windows = [(AT - dt.timedelta(days=d), AT - dt.timedelta(hours=h)) for d in (1, 3.3, 7, 11) for h in (0, 5, 30)]
    before = [dict(hotspots.cell_counts(a, b)) for a, b in windows]  # nothing built yet: all live
    result = hotspots.refresh_rollup(at=AT)
    assert result["days"] >= 10 and result["through"] == "2026-03-03"
    assert CaseDayCount.objects.filter(day__gt="2026-03-03").count() == 0
    for (a, b), old in zip(windows, before):
        assert dict(hotspots.cell_counts(a, b)) == old == _live(a, b), (a, b)


def test_refresh_rewrites_recent_days_and_rebuild_rewrites_all(w):
    def total():
        return sum(CaseDayCount.objects.values_list("cases", flat=True))

    spread(w, 6, days=6, grid=0)
    hotspots.refresh_rollup(at=AT)
    assert total() == 6
    # a late report for two days ago (inside the refresh window) and one for 20 days ago
    report(w, grid=0, ago=dt.timedelta(days=2))
    report(w, grid=0, ago=dt.timedelta(days=20))
    hotspots.refresh_rollup(at=AT)
    assert total() == 7  # the old day is outside the refresh window
    hotspots.refresh_rollup(at=AT, rebuild=True)
    assert total() == 8
    since = AT - dt.timedelta(days=30)
    assert dict(hotspots.cell_counts(since, AT)) == _live(since, AT)


def test_hotspots_are_ranked_with_representatives_and_growth(w):
    spread(w, 8, days=25, grid=0, cat="litter", address="金山路1号")
    spread(w, 5, days=25, grid=1, cat="ad")
    spread(w, 2, days=25, grid=2, cat="road")  # below the minimum of 3
    spread(w, 4, days=30, grid=1, cat="ad", offset_days=30)  # the window before
    hotspots.refresh_rollup(at=AT)
    items, totals = hotspots.hotspots(w.users["leader"], days=30, at=AT)
    assert [(h.grid.code, h.category.code, h.count) for h in items] == [
        (w.grids[0].code, "0101", 8), (w.grids[1].code, "0102", 5)]
    assert items[0].previous == 0 and items[0].change is None
    assert items[1].previous == 4 and items[1].change == 0.25
    assert len(items[0].cases) == 3 and items[0].cases[0].reported_at > items[0].cases[1].reported_at
    assert totals["cases"] == 15 and totals["hotspots"] == 2
    # a category filter counts its sub-categories
    items, _ = hotspots.hotspots(w.users["leader"], days=30, at=AT, category=w.cats["top"])
    assert {h.category.code for h in items} == {"0101", "0102"}
    items, _ = hotspots.hotspots(w.users["leader"], days=30, at=AT, within=w.grids[1].path)
    assert [h.grid.code for h in items] == [w.grids[1].code]


def test_hotspots_are_scoped_to_the_jurisdiction(w):
    spread(w, 4, days=5, grid=0)
    spread(w, 4, days=5, grid=3)
    hotspots.refresh_rollup(at=AT)
    seen = {name: {h.grid.code for h in hotspots.hotspots(w.users[name], days=30, at=AT)[0]}
            for name in ("dispatcher", "dispatcher2", "staff", "leader", "resident", "handler")}
    assert seen["dispatcher"] == {w.grids[0].code}
    assert seen["dispatcher2"] == {w.grids[3].code}
    assert seen["staff"] == {w.grids[0].code}
    assert seen["leader"] == {w.grids[0].code, w.grids[3].code}
    assert seen["resident"] == seen["handler"] == set()


@pytest.mark.parametrize("geometry", ["point", "polygon"])
def test_grid_layer_is_geojson_with_counts(w, geometry):
    spread(w, 4, days=5, grid=0, cat="litter")
    spread(w, 2, days=5, grid=0, cat="ad")
    spread(w, 1, days=5, grid=3, cat="road")
    layer = hotspots.grid_layer(w.users["dispatcher"], days=30, at=AT, geometry=geometry)
    assert layer["type"] == "FeatureCollection"
    (feature,) = layer["features"]
    assert feature["properties"]["grid"] == w.grids[0].code and feature["properties"]["count"] == 6
    assert [c["count"] for c in feature["properties"]["categories"]] == [4, 2]
    if geometry == "point":
        assert feature["geometry"] == {"type": "Point", "coordinates": [118.505, 24.91]}
    else:
        assert feature["geometry"] == w.grids[0].geometry


def test_two_refreshes_never_double_count(w):
    spread(w, 5, days=5, grid=0)
    hotspots.refresh_rollup(at=AT)
    hotspots.refresh_rollup(at=AT)
    hotspots.refresh_rollup(at=AT + dt.timedelta(days=1))
    assert sum(CaseDayCount.objects.values_list("cases", flat=True)) == 5
    assert RollupState.objects.count() == 1


def test_snapshot_answers_the_default_window_like_counting(w, settings):
    from django.utils import timezone

    from gridgov.insight.models import HotspotCell

    now = timezone.now()
    spread(w, 8, days=25, grid=0, cat="litter", at=now)
    spread(w, 5, days=25, grid=1, cat="ad", at=now)
    spread(w, 4, days=25, grid=3, cat="ad", at=now)
    spread(w, 3, days=30, grid=1, cat="ad", at=now, offset_days=30)
    report(w, grid=2, cat=None, at=now)
    leader = w.users["leader"]
    counted, counted_totals = hotspots.hotspots(leader, days=30, at=now)
    assert counted_totals["source"] == "counted"
    hotspots.refresh_snapshot()
    assert HotspotCell.objects.count() == 4  # cells with cases in the window
    for user, within in [(leader, None), (w.users["dispatcher"], None), (leader, w.street2.path)]:
        snap, totals = hotspots.hotspots(user, within=within)
        again, again_totals = hotspots.hotspots(user, within=within, at=timezone.now())
        assert totals["source"] == "snapshot" and again_totals["source"] == "counted"
        assert [(h.grid, h.category, h.count, h.previous, h.cases) for h in snap] == [
            (h.grid, h.category, h.count, h.previous, h.cases) for h in again]
        assert {k: totals[k] for k in ("cases", "ungridded_cases", "hotspots")} == {
            k: again_totals[k] for k in ("cases", "ungridded_cases", "hotspots")}
    assert [h.count for h in hotspots.hotspots(leader)[0]] == [h.count for h in counted] == [8, 5, 4]
    layer = hotspots.grid_layer(leader)
    assert layer == hotspots.grid_layer(leader, at=now) | {"properties": layer["properties"]}
    assert hotspots.hotspots(w.users["dispatcher2"], category=w.cats["litter"])[0] == []
    # another window, or a stale snapshot, is counted
    assert hotspots.hotspots(leader, days=7)[1]["source"] == "counted"
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT": {**settings.GRIDGOV["INSIGHT"], "SCAN_INTERVAL_SECONDS": 0}}
    assert hotspots.hotspots(leader)[1]["source"] == "counted"
