"""POST /api/cases: reporting over JSON and multipart, and bad input that writes nothing."""

import pytest

from gridgov.cases.models import Case, CasePhoto, TimelineEntry
from gridgov.privacy.models import AuditRecord
from tests.factories import photo

from .conftest import error_of

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "description": "垃圾堆放", "category": "0101", "grid": "350502001001001"}


def counts():
    return Case.objects.count(), TimelineEntry.objects.count(), CasePhoto.objects.count(), AuditRecord.objects.filter(action__startswith="case.").count()


def test_report_json_returns_201_with_detail(as_user, w):
    r = as_user("worker").post("/cases", {**REPORT, "address": "金山路1号", "reporter_phone": "13812345678",
                                          "reporter_name": "王五", "urgency": "urgent"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "reported" and body["status_label"] == "待受理"
    assert body["number"].startswith("350502-")
    assert body["grid"] == {"code": "350502001001001", "name": w.grids[0].name}
    assert body["category"]["code"] == "0101" and body["urgency"] == "urgent"
    assert body["owner_region"]["code"] == w.street.code
    assert [e["action"] for e in body["timeline"]] == ["report"]
    assert body["timeline"][0]["actor"] == "worker"
    assert body["reporter"] == {"name": "王*", "phone": "138****5678", "public_anonymous": True}
    assert body["assignments"] == [] and body["extension_requests"] == []
    # Whoever may dispatch sees the matrix's suggestion for the holding level (the street);
    # the grid worker who reported it does not dispatch.
    assert body["suggestion"] is None
    detail = as_user("dispatcher").get(f"/cases/{body['number']}").json()
    assert detail["suggestion"]["department"]["code"] == w.depts["zf"].code
    assert {k: v for k, v in detail.items() if k != "suggestion"} == {k: v for k, v in body.items() if k != "suggestion"}
    case = Case.objects.get(number=body["number"])
    assert case.reporter == w.users["worker"] and case.address == "金山路1号"


def test_report_by_region_without_grid(as_user, w):
    r = as_user("resident").post("/cases", {"channel": "resident", "title": "噪音扰民", "region": w.community.code})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["grid"] is None and body["region"]["code"] == w.community.code
    # A resident sees their own report, its public timeline without names, no suggestion.
    assert body["timeline"][0]["actor"] is None and body["suggestion"] is None


def test_report_multipart_with_photos(as_user, w):
    data = {**REPORT, "public_anonymous": "false", "photos": [photo("a.jpg"), photo("b.jpg", (0, 0, 200))]}
    r = as_user("worker").post_form("/cases", data)
    assert r.status_code == 201, r.content
    body = r.json()
    assert len(body["photos"]) == 2 and all(p["kind"] == "report" for p in body["photos"])
    assert body["photos"][0]["url"] == f"http://testserver/api/cases/{body['number']}/photos/{body['photos'][0]['id']}"
    assert body["reporter"]["public_anonymous"] is False
    assert CasePhoto.objects.count() == 2


def _not_an_image():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("evil.jpg", b"#!/bin/sh\necho not an image\n", content_type="image/jpeg")


@pytest.mark.parametrize(
    "body, field",
    [
        ({k: v for k, v in REPORT.items() if k != "title"}, "title"),
        ({k: v for k, v in REPORT.items() if k != "channel"}, "channel"),
        ({**REPORT, "title": "   "}, "title"),
        ({**REPORT, "title": "长" * 201}, "title"),
        ({**REPORT, "description": "x" * 100_000}, "description"),
        ({**REPORT, "title": 12345}, "title"),
        ({**REPORT, "channel": "carrier_pigeon"}, "channel"),
        ({**REPORT, "urgency": "very"}, "urgency"),
        ({**REPORT, "category": "9999"}, "category"),
        ({**REPORT, "grid": "000000000000999"}, "grid"),
        ({**REPORT, "grid": None, "region": "999999"}, "region"),
        ({**REPORT, "grid": None, "lat": "north", "lon": 118.5}, "lat"),
        ({**REPORT, "grid": None, "lat": 91, "lon": 118.5}, "lat"),
        ({**REPORT, "grid": None, "lat": 24.91}, "lat"),
        ({**REPORT, "grid": None}, "lat"),
        ({**REPORT, "public_anonymous": "maybe"}, "public_anonymous"),
        ({**REPORT, "reporter_phone": "1" * 50}, "reporter_phone"),
        ({**REPORT, "surprise": 1}, "surprise"),
    ],
)
def test_report_bad_input_is_422_and_writes_nothing(as_user, w, body, field):
    before = counts()
    error = error_of(as_user("worker").post("/cases", body), 422)
    assert error["code"] == "invalid_input"
    fields = [error["details"].get("field")] + [f["field"] for f in error["details"].get("fields", [])]
    assert field in fields, error
    assert error["message_zh"]
    assert counts() == before


def test_report_bad_json_and_bodies(as_user, w):
    api = as_user("worker")
    before = counts()
    assert error_of(api.post("/cases", b'{"title": "x",'), 400)["code"] == "invalid_json"
    assert error_of(api.post("/cases", b"\xff\xfe\x00"), 400)["code"] == "invalid_json"
    assert error_of(api.post("/cases", b"[1, 2, 3]"), 422)["code"] == "invalid_input"
    assert error_of(api.post("/cases", b'"just a string"'), 422)["code"] == "invalid_input"
    assert error_of(api.post("/cases", b""), 422)["code"] == "invalid_input"
    assert error_of(api.post("/cases", b'{"title": NaN, "lat": NaN}'), 422)["code"] == "invalid_input"
    assert error_of(api.raw("POST", "/cases", b"<xml/>", "application/xml"), 415)["code"] == "unsupported_media_type"
    assert counts() == before


def test_report_non_image_photo_is_refused(as_user, w):
    before = counts()
    error = error_of(as_user("worker").post_form("/cases", {**REPORT, "photos": [photo(), _not_an_image()]}), 422)
    assert error["details"]["field"] == "photos"
    assert counts() == before


def test_report_unexpected_file_field_is_refused(as_user, w):
    before = counts()
    error = error_of(as_user("worker").post_form("/cases", {**REPORT, "attachment": [photo()]}), 422)
    assert error["details"]["fields"][0]["field"] == "attachment"
    assert counts() == before


def test_report_too_many_photos(as_user, w):
    before = counts()
    error = error_of(as_user("worker").post_form("/cases", {**REPORT, "photos": [photo(f"{i}.jpg") for i in range(10)]}), 422)
    assert error["details"]["field"] == "photos"
    assert counts() == before


def test_report_needs_authentication_and_the_right(as_user, w):
    before = counts()
    error = error_of(as_user(None).post("/cases", REPORT), 401)
    assert error["code"] == "unauthenticated" and error["message_zh"] == "请先登录"
    error = error_of(as_user("auditor").post("/cases", REPORT), 403)
    assert error["code"] == "role_forbidden"
    assert counts() == before


def test_report_with_invalid_or_revoked_token(client, w):
    from gridgov.accounts.services import issue_token, revoke_token

    token, raw = issue_token(actor=None, user=w.users["worker"], name="t")
    revoke_token(actor=None, token=token)
    for header in [f"Bearer {raw}", "Bearer ggv_nonsense", "Basic dXNlcjpwYXNz", "Bearer"]:
        r = client.post("/api/cases", REPORT, content_type="application/json", headers={"Authorization": header})
        assert error_of(r, 401)["code"] == "unauthenticated"


def test_form_urlencoded_report(as_user, w):
    from urllib.parse import urlencode

    api = as_user("worker")
    r = api.raw("POST", "/cases", urlencode(REPORT).encode(), "application/x-www-form-urlencoded")
    assert r.status_code == 201, r.content


def test_huge_body_is_413(as_user, w, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = counts()
    error = error_of(as_user("worker").post("/cases", {**REPORT, "description": "x" * 5000}), 413)
    assert error["code"] == "payload_too_large"
    assert counts() == before


def test_big_photo_upload_is_not_a_500(as_user, w):
    from django.core.files.uploadedfile import SimpleUploadedFile

    big = SimpleUploadedFile("big.jpg", b"\xff\xd8\xff" + b"0" * (11 * 1024 * 1024), content_type="image/jpeg")
    before = counts()
    error = error_of(as_user("worker").post_form("/cases", {**REPORT, "photos": [big]}), 422)
    assert error["details"]["field"] == "photos"
    assert counts() == before


def test_report_by_point_is_located_to_its_grid(as_user, w):
    from gridgov.places import geo

    api = as_user("resident")
    base = {"channel": "resident", "title": "井盖缺失", "category": "02"}
    r = api.post("/cases", {**base, "lat": 24.91, "lon": 118.515})
    assert r.status_code == 201, r.content
    assert r.json()["grid"]["code"] == w.grids[1].code
    lat, lon = geo.wgs84_to_gcj02(24.91, 118.545)
    r = api.post("/cases", {**base, "lat": lat, "lon": lon, "crs": "gcj02"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["grid"]["code"] == w.grids[3].code
    assert abs(body["lat"] - 24.91) < 1e-6 and abs(body["lon"] - 118.545) < 1e-6


def test_report_outside_every_grid_or_in_unknown_crs(as_user, w):
    before = counts()
    api = as_user("resident")
    base = {"channel": "resident", "title": "井盖缺失"}
    assert error_of(api.post("/cases", {**base, "lat": 39.9, "lon": 116.4}), 422)["code"] == "outside_grids"
    assert error_of(api.post("/cases", {**base, "lat": 24.91, "lon": 118.515, "crs": "mercator"}), 422)["code"] == "unknown_crs"
    assert counts() == before
