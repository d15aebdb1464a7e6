"""The insight API over HTTP: hot spots, the map layer, warnings (list, counts, detail,
acknowledge, close, to-case), scoping (404 outside), roles (403), bad input (structured 4xx)."""

import pytest

from gridgov.accounts.services import issue_token
from gridgov.insight import hotspots, warnings
from gridgov.insight.models import EarlyWarning
from tests.api.conftest import Api, error_of
from tests.factories import build_world

from .warning_data import AT, spread

AT_Q = AT.isoformat()


@pytest.fixture
def w(db):
    return build_world()


@pytest.fixture
def as_user(w, client):
    tokens = {}

    def make(name):
        if name is None:
            return Api(client, None)
        if name not in tokens:
            tokens[name] = issue_token(actor=None, user=w.users[name], name="test")[1]
        return Api(client, tokens[name])

    return make


@pytest.fixture
def data(w):
    spread(w, 9, days=6, grid=0, cat="litter")
    spread(w, 4, days=6, grid=1, cat="ad")
    spread(w, 6, days=6, grid=3, cat="road")
    hotspots.refresh_rollup(at=AT)
    warnings.scan(at=AT)
    return {"mine": EarlyWarning.objects.get(grid=w.grids[0]), "other": EarlyWarning.objects.get(grid=w.grids[3])}


# --- hot spots -------------------------------------------------------------------------


def test_hotspot_list_is_ranked_and_scoped(as_user, w, data):
    r = as_user("dispatcher").get("/insight/hotspots", {"days": 30, "at": AT_Q})
    assert r.status_code == 200, r.content
    body = r.json()
    assert [(i["grid"]["code"], i["count"]) for i in body["items"]] == [(w.grids[0].code, 9), (w.grids[1].code, 4)]
    assert body["items"][0]["category"] == {"code": "0101", "name": "暴露垃圾"}
    assert len(body["items"][0]["cases"]) == 3 and body["cases"] == 13
    r = as_user("leader").get("/insight/hotspots", {"days": 30, "at": AT_Q, "region": w.street2.code})
    assert [i["grid"]["code"] for i in r.json()["items"]] == [w.grids[3].code]
    r = as_user("leader").get("/insight/hotspots", {"days": 30, "at": AT_Q, "category": "01", "limit": 1})
    assert [i["category"]["code"] for i in r.json()["items"]] == ["0101"]


def test_hotspot_map_layer(as_user, w, data):
    r = as_user("leader").get("/insight/hotspots/map", {"days": 30, "at": AT_Q, "geometry": "polygon"})
    assert r.status_code == 200
    layer = r.json()
    assert layer["type"] == "FeatureCollection"
    assert {f["properties"]["grid"]: f["properties"]["count"] for f in layer["features"]} == {
        w.grids[0].code: 9, w.grids[1].code: 4, w.grids[3].code: 6}
    assert layer["features"][0]["geometry"]["type"] == "Polygon"


@pytest.mark.parametrize("params", [
    {"days": 0}, {"days": 1000}, {"days": "week"}, {"at": "yesterday"}, {"category": "zz"}, {"region": "999"},
    {"grid": "nope"}, {"limit": 0}, {"min_cases": -1},
])
def test_hotspot_bad_input_is_a_structured_422(as_user, w, params):
    error = error_of(as_user("leader").get("/insight/hotspots", params), 422)
    assert error["code"] == "invalid_input"


def test_map_bad_geometry(as_user, w):
    error_of(as_user("leader").get("/insight/hotspots/map", {"geometry": "hexagon"}), 422)


@pytest.mark.parametrize("name", ["resident", "handler", "auditor"])
def test_hotspots_forbidden_to_roles_without_insight(as_user, w, name):
    assert error_of(as_user(name).get("/insight/hotspots"), 403)["code"] == "role_forbidden"
    error_of(as_user(name).get("/insight/hotspots/map"), 403)


def test_anonymous_is_401(as_user, w):
    error_of(as_user(None).get("/insight/warnings"), 401)
    error_of(as_user(None).get("/insight/hotspots"), 401)


# --- warnings --------------------------------------------------------------------------


def test_warning_list_is_scoped_and_filtered(as_user, w, data):
    r = as_user("dispatcher").get("/insight/warnings")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 1 and body["items"][0]["id"] == data["mine"].pk
    item = body["items"][0]
    assert item["kind"] == "surge" and item["state"] == "open" and item["owner_region"]["code"] == w.street.code
    assert item["evidence"]["count"] == 9 and item["grid"]["code"] == w.grids[0].code
    leader = as_user("leader")
    assert leader.get("/insight/warnings").json()["count"] == 2
    assert leader.get("/insight/warnings", {"region": w.street2.code}).json()["count"] == 1
    assert leader.get("/insight/warnings", {"state": "closed"}).json()["count"] == 0
    assert leader.get("/insight/warnings", {"kind": "surge", "severity": ["medium", "high", "low"]}).json()["count"] == 2


def test_summary_counts_for_the_dashboard(as_user, w, data):
    api = as_user("leader")
    api.post(f"/insight/warnings/{data['other'].pk}/close", {"note": "已处理"})
    body = api.get("/insight/warnings/summary").json()
    assert body["total"] == 2 and body["open"] == 1
    assert body["by_state"] == {"open": 1, "acknowledged": 0, "closed": 1}
    assert sum(body["by_severity"].values()) == 1 and body["by_kind"]["surge"] == 1
    assert sum(sum(v.values()) for v in body["by_severity_state"].values()) == 2
    assert as_user("dispatcher2").get("/insight/warnings/summary").json()["by_state"]["closed"] == 1
    assert as_user("dispatcher2").get("/insight/warnings/summary").json()["total"] == 1


def test_detail_and_404_outside_the_territory(as_user, w, data):
    mine = data["mine"].pk
    assert as_user("staff").get(f"/insight/warnings/{mine}").json()["id"] == mine
    for name in ("dispatcher2", "resident", "handler"):
        assert error_of(as_user(name).get(f"/insight/warnings/{mine}"), 404)["code"] == "not_found"
        error_of(as_user(name).post(f"/insight/warnings/{mine}/acknowledge", {}), 404)
        error_of(as_user(name).post(f"/insight/warnings/{mine}/to-case", {}), 404)
    error_of(as_user("dispatcher").get("/insight/warnings/999999"), 404)
    assert EarlyWarning.objects.get(pk=mine).state == "open"


def test_acknowledge_close_over_http(as_user, w, data):
    api = as_user("dispatcher")
    path = f"/insight/warnings/{data['mine'].pk}"
    r = api.post(f"{path}/acknowledge", {"note": "已派网格员核实"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert error_of(api.post(f"{path}/acknowledge", {}), 409)["code"] == "illegal_transition"
    r = api.post(f"{path}/close", {"note": "已整治"})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["note"] == "已派网格员核实\n已整治"


def test_to_case_over_http(as_user, w, data):
    api = as_user("dispatcher")
    path = f"/insight/warnings/{data['mine'].pk}/to-case"
    r = api.post(path, {"title": "集中整治暴露垃圾", "note": "转立"})
    assert r.status_code == 201, r.content
    body = r.json()
    number = body["case"]["number"]
    assert body["warning"]["case"] == number and body["warning"]["state"] == "acknowledged"
    assert body["case"]["title"] == "集中整治暴露垃圾" and body["case"]["grid"]["code"] == w.grids[0].code
    assert api.get(f"/cases/{number}").status_code == 200
    assert error_of(api.post(path, {}), 409)["code"] == "conflict"
    # a leader may acknowledge but not open a case
    error_of(as_user("leader").post(f"/insight/warnings/{data['other'].pk}/to-case", {}), 403)


@pytest.mark.parametrize(("body", "status"), [
    ({"note": "x" * 2001}, 422), ({"bogus": 1}, 422), ({"category": "zz"}, 422), ("[1, 2]", 422), ("{not json", 400),
    ({"title": 5}, 422),
])
def test_bad_bodies_are_structured_errors(as_user, w, data, body, status):
    api = as_user("dispatcher")
    error_of(api.post(f"/insight/warnings/{data['mine'].pk}/to-case", body), status)
    assert EarlyWarning.objects.get(pk=data["mine"].pk).case is None


@pytest.mark.parametrize("params", [{"state": "done"}, {"severity": "extreme"}, {"kind": "x"}, {"limit": 500},
                                    {"region": "zz"}, {"offset": -1}])
def test_bad_list_filters_are_422(as_user, w, params):
    error_of(as_user("leader").get("/insight/warnings", params), 422)


def test_warnings_forbidden_to_residents(as_user, w, data):
    assert error_of(as_user("resident").get("/insight/warnings"), 403)["code"] == "role_forbidden"
    error_of(as_user("resident").get("/insight/warnings/summary"), 403)
    error_of(as_user("worker").get("/insight/warnings"), 403)


def test_rules_are_listed(as_user, w):
    r = as_user("leader").get("/insight/rules")
    assert {x["code"] for x in r.json()} >= {"surge", "repeat-address", "overdue-pileup"}


def test_openapi_lists_the_insight_endpoints(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ["/api/insight/hotspots", "/api/insight/hotspots/map", "/api/insight/warnings",
                 "/api/insight/warnings/summary", "/api/insight/warnings/{warning_id}",
                 "/api/insight/warnings/{warning_id}/to-case", "/api/insight/rules"]:
        assert path in paths, path
