"""Photo uploads (R28, F16): a malicious corpus is refused or sanitised, no GPS tag survives,
files are durable before the row commits, and only the authorised view serves them."""

import io
import os
import struct
import zlib
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import ExifTags, Image

from gridgov.cases.models import Case, CasePhoto
from tests.factories import photo

from .conftest import error_of

REPORT = {"channel": "patrol", "title": "路边暴露垃圾", "category": "0101", "grid": "350502001001001"}
GPS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (24.0, 54.0, 30.5),
       ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (118.0, 30.0, 12.25)}


def _jpeg(size=(64, 48), color=(10, 120, 200), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Model X 13812345678"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    data = _jpeg(exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "the corpus file must carry GPS"
    return data


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(side: int = 20000) -> bytes:
    """A real decompression bomb: 400 megapixels of 1-bit zeros in about 50 kB."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def png_with_text_and_exif() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<script>alert(1)</script> GPS 24.9,118.5")
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 200, 0, 128)).save(out, "PNG", pnginfo=info, exif=exif.tobytes())
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(out, "WEBP")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><body><script>fetch('/api/me').then(r=>r.text()).then(alert)</script></body></html>"

# name, bytes, expected outcome ("reject:<reason>" or "sanitise")
CORPUS = [
    ("html-renamed.jpg", HTML, "reject:not_an_image"),
    ("svg-with-script.jpg", SVG, "reject:not_an_image"),
    ("svg-with-script.svg", SVG, "reject:not_an_image"),
    ("polyglot-appended.jpg", _jpeg() + HTML, "sanitise"),
    ("polyglot-comment.jpg", None, "sanitise"),  # HTML in a JPEG comment segment, filled in below
    ("bomb.png", None, "reject:too_many_pixels"),
    ("fifty-megabytes.jpg", None, "reject:too_large"),
    ("gps.jpg", None, "sanitise"),
    ("png-text-exif.png", None, "sanitise"),
    ("webp.webp", None, "sanitise"),
    ("truncated.jpg", _jpeg((400, 300))[:700], "reject:not_an_image"),
    ("animated.gif", None, "reject:not_an_image"),
    ("jpeg-header-only.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100, "reject:not_an_image"),
]


def corpus_bytes(name: str, data: bytes | None) -> bytes:
    if data is not None:
        return data
    if name == "polyglot-comment.jpg":
        plain = _jpeg()
        comment = b"\xff\xfe" + struct.pack(">H", len(HTML) + 2) + HTML
        return plain[:2] + comment + plain[2:]
    if name == "bomb.png":
        return bomb_png()
    if name == "fifty-megabytes.jpg":
        return _jpeg() + os.urandom(1024) * (50 * 1024)
    if name == "gps.jpg":
        return gps_jpeg()
    if name == "png-text-exif.png":
        return png_with_text_and_exif()
    if name == "webp.webp":
        return webp()
    if name == "animated.gif":
        return gif()
    raise AssertionError(name)


def _gps_tags(path: Path) -> int:
    with Image.open(path) as image:
        exif = image.getexif()
        return len(exif.get_ifd(ExifTags.IFD.GPSInfo)) + (1 if ExifTags.IFD.GPSInfo in exif else 0)


def test_malicious_corpus_is_rejected_or_sanitised(as_user, w):
    handled, gps_left = 0, 0
    for name, data, expected in CORPUS:
        data = corpus_bytes(name, data)
        upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
        response = as_user("worker").post_form("/cases", {**REPORT, "photos": [upload]})
        if expected.startswith("reject:"):
            error = error_of(response, 422)
            assert error["details"]["field"] == "photos" and error["details"]["reason"] == expected.split(":")[1], name
            handled += 1
            continue
        assert response.status_code == 201, (name, response.content[:300])
        stored = CasePhoto.objects.get(case__number=response.json()["number"])
        path = Path(stored.image.path)
        raw = path.read_bytes()
        assert raw != data and b"<script" not in raw and b"<html" not in raw and b"Exif" not in raw, name
        assert b"PhoneMaker" not in raw and b"tEXt" not in raw and b"GPS" not in raw, name
        assert path.suffix in (".jpg", ".png") and name.split(".")[0] not in path.name
        with Image.open(path) as image:
            image.load()
            assert image.format in ("JPEG", "PNG") and not image.getexif() and not image.info.get("exif")
        gps_left += _gps_tags(path)
        handled += 1
    assert handled == len(CORPUS) and gps_left == 0
    print(f"F16: {handled}/{len(CORPUS)} rejected or sanitised; GPS tags remaining {gps_left}")


def test_transparent_png_stays_png_and_opaque_photos_become_jpeg(as_user, w):
    from gridgov.cases.photos import sanitize

    png = sanitize(SimpleUploadedFile("a.png", png_with_text_and_exif()))
    assert png.name.endswith(".png") and Image.open(png).mode == "RGBA"
    jpg = sanitize(SimpleUploadedFile("b.webp", webp()))
    assert jpg.name.endswith(".jpg") and Image.open(jpg).format == "JPEG"
    assert len({sanitize(photo()).name for _ in range(20)}) == 20  # random names, never the upload's


def test_upload_is_durable_before_the_row_is_written(as_user, w, monkeypatch):
    import gridgov.security.storage as storage

    events = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd):
        events.append(("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file"))
        return real_fsync(fd)

    def link(src, dst):
        events.append("link")
        assert Path(src).name.startswith(".upload-") and Path(src).stat().st_size > 0
        return real_link(src, dst)

    def record_sql(execute, sql, params, many, context):
        if "INSERT" in sql.upper() and "cases_casephoto" in sql:
            events.append("insert-row")
        return execute(sql, params, many, context)

    monkeypatch.setattr(storage.os, "fsync", fsync)
    monkeypatch.setattr(storage.os, "link", link)
    with connection.execute_wrapper(record_sql):
        response = as_user("worker").post_form("/cases", {**REPORT, "photos": [photo()]})
    assert response.status_code == 201
    first_insert = events.index("insert-row")
    before = events[:first_insert]
    assert before.index("fsync-file") < before.index("link") < len(before) - 1 - before[::-1].index("fsync-dir")
    stored = Path(CasePhoto.objects.get().image.path)
    assert stored.stat().st_mode & 0o777 == 0o640
    assert not list(stored.parent.glob(".upload-*")), "no temporary file is left behind"


def test_photos_are_outside_the_web_root_and_no_url_serves_media(as_user, w, client):
    response = as_user("worker").post_form("/cases", {**REPORT, "photos": [photo()]})
    stored = CasePhoto.objects.get(case__number=response.json()["number"])
    media, static = Path(settings.MEDIA_ROOT).resolve(), Path(settings.STATIC_ROOT).resolve()
    assert static not in Path(stored.image.path).resolve().parents and media != static
    assert client.get(f"/media/{stored.image.name}").status_code == 404


def test_photo_served_only_after_the_case_check(as_user, w):
    body = as_user("worker").post_form("/cases", {**REPORT, "photos": [photo()]}).json()
    number, url = body["number"], body["photos"][0]["url"].replace("http://testserver/api", "")
    pid = body["photos"][0]["id"]
    ok = as_user("worker").get(url)
    assert ok.status_code == 200 and ok["Content-Type"] == "image/jpeg"
    assert ok["X-Content-Type-Options"] == "nosniff" and "no-store" in ok["Cache-Control"]
    assert ok["Content-Disposition"] == f'inline; filename="{number}-{pid}.jpg"'
    assert Image.open(io.BytesIO(b"".join(ok.streaming_content))).format == "JPEG"
    assert as_user("dispatcher").get(url).status_code == 200  # the street's dispatcher sees the case
    error_of(as_user("dispatcher2").get(url), 404)  # another street: the case does not exist for them
    error_of(as_user("worker_other").get(url), 404)
    assert as_user(None).get(url).status_code == 401
    # Another case's photo id under a visible case number is 404 too (no IDOR by photo id).
    other = as_user("worker_other").post_form("/cases", {**REPORT, "grid": w.grids[3].code, "photos": [photo()]}).json()
    error_of(as_user("worker").get(f"/cases/{number}/photos/{other['photos'][0]['id']}"), 404)
    error_of(as_user("worker").get(f"/cases/{number}/photos/999999"), 404)
    assert Case.objects.count() == 2
