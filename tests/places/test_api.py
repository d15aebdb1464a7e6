import json

import pytest
from django.test import Client
from shapely.geometry import shape

from gridgov.places import geo
from gridgov.places.models import Grid
from tests.factories import verified_login


@pytest.fixture
def api(users):
    def as_user(name):
        client = Client()
        if name:
            verified_login(client, users.users[name])
        return client

    return as_user


def centre(code):
    p = shape(Grid.objects.get(code=code).geometry).representative_point()
    return p.y, p.x


def codes(response, kind="grid"):
    assert response.status_code == 200, response.content
    return sorted(f["properties"]["code"] for f in response.json()["features"] if ("grid_code" in f["properties"]) == (kind == "micro"))


@pytest.mark.django_db
def test_anonymous_gets_401(api):
    for path in ["/api/grids", "/api/grids/350502001001001", "/api/locate?lat=24.91&lon=118.51"]:
        r = api(None).get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


@pytest.mark.django_db
def test_grid_list_is_geojson_and_scoped(api):
    everything = api("admin").get("/api/grids")
    body = everything.json()
    assert body["type"] == "FeatureCollection" and len(codes(everything)) == 7 and len(codes(everything, "micro")) == 2
    assert body["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert len(codes(api("street").get("/api/grids"))) == 7
    assert codes(api("community_b").get("/api/grids")) == ["350502001002001", "350502001002002", "350502001002003"]
    assert codes(api("worker").get("/api/grids")) == ["350502001001002"]
    assert codes(api("nobody").get("/api/grids")) == []


@pytest.mark.django_db
def test_grid_list_by_region(api):
    assert len(codes(api("admin").get("/api/grids?region=350502001002"))) == 3
    assert len(codes(api("admin").get("/api/grids?region=3505"))) == 7
    # a region wider than the user's scope still shows only the user's grids
    assert codes(api("community_b").get("/api/grids?region=350502")) == ["350502001002001", "350502001002002", "350502001002003"]
    assert codes(api("community_b").get("/api/grids?region=350502001001")) == []
    for bad in ["350502009", "abc", "1" * 40]:
        r = api("admin").get(f"/api/grids?region={bad}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_one_grid_and_404_outside_scope(api):
    r = api("admin").get("/api/grids/350502001001001")
    assert r.status_code == 200
    feature = r.json()
    assert feature["id"] == "350502001001001" and feature["properties"]["community_name"] == "金山社区"
    assert [m["code"] for m in feature["properties"]["micro_grids"]] == ["350502001001001001", "350502001001001002"]
    assert api("worker").get("/api/grids/350502001001002").status_code == 200
    for who, code in [("worker", "350502001001001"), ("community_b", "350502001001001"), ("nobody", "350502001002001"),
                      ("admin", "350502001009009"), ("admin", "not-a-code"), ("admin", "%00")]:
        r = api(who).get(f"/api/grids/{code}")
        assert r.status_code == 404, (who, code)
        assert r.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_locate_endpoint(api):
    lat, lon = centre("350502001002002")
    body = api("admin").get(f"/api/locate?lat={lat}&lon={lon}").json()
    assert body["found"] and body["grid_code"] == "350502001002002"
    assert [a["level"] for a in body["ancestors"]] == ["city", "district", "street", "community"]
    glat, glon = geo.wgs84_to_gcj02(lat, lon)
    assert api("street").get("/api/locate", {"lat": glat, "lon": glon, "crs": "gcj02"}).json()["grid_code"] == "350502001002002"
    outside = api("admin").get("/api/locate?lat=39.9&lon=116.4").json()
    assert outside["found"] is False and outside["reason"] == "outside_grids"


@pytest.mark.django_db
def test_locate_hides_grids_outside_the_users_scope(api):
    lat, lon = centre("350502001002002")
    assert api("community_b").get(f"/api/locate?lat={lat}&lon={lon}").json()["found"]
    for who in ["worker", "nobody"]:
        body = api(who).get(f"/api/locate?lat={lat}&lon={lon}").json()
        assert body["found"] is False and body["grid_code"] is None and body["ancestors"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("query,code", [
    ("lat=95&lon=118", "coordinates_out_of_range"),
    ("lat=24.9&lon=118.5&crs=utm", "unknown_crs"),
    ("lat=abc&lon=118.5", "invalid_input"),
    ("lon=118.5", "invalid_input"),
    ("lat=nan&lon=118.5", None),
    ("lat=inf&lon=118.5", None),
])
def test_locate_bad_input_is_422(api, query, code):
    r = api("admin").get(f"/api/locate?{query}")
    assert r.status_code == 422, r.content
    error = r.json()["error"]
    assert code is None or error["code"] == code
    assert error["message_zh"]


@pytest.mark.django_db
def test_openapi_lists_the_places_endpoints(client):
    paths = json.loads(client.get("/api/openapi.json").content)["paths"]
    assert {"/api/grids", "/api/grids/{code}", "/api/locate"} <= set(paths)
