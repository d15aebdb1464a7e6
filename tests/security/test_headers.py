"""Security headers (R21, R22, R26): CSP without inline code on every HTML page, the other
headers on every response, no-store on personal data, HTTPS redirect when TLS is on, and
error answers that show nothing of the error."""

import json
import os
import subprocess
import sys

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from tests.factories import build_world, verified_login

pytestmark = pytest.mark.django_db

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _admin_pages() -> list[str]:
    """Every admin page without an object: the index, each app, each model's list and add form."""
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        pages.append(f"/admin/{opts.app_label}/")
        for view in ("changelist", "add"):
            try:
                pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}"))
            except NoReverseMatch:
                continue
    return sorted(set(pages))


def _assert_strict_csp(response, path):
    policy = response.get("Content-Security-Policy", "")
    assert policy, f"no CSP on {path}"
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in policy.split(";") if d.strip())
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, (path, policy)
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def _assert_common_headers(response):
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=(self)" in response["Permissions-Policy"]


def test_csp_on_every_html_page():
    w = build_world()
    anonymous, signed_in = Client(), Client()
    verified_login(signed_in, w.users["admin"])  # second factor done: the admin pages themselves
    visits = [(anonymous, p) for p in ("/", "/admin/login/", "/api/docs", "/no-such-page/")]
    visits += [(signed_in, p) for p in ["/", "/api/docs", *_admin_pages()]]
    html = 0
    for client, path in visits:
        response = client.get(path)
        assert response.status_code in (200, 302, 403, 404), (path, response.status_code)
        if response.get("Content-Type", "").startswith("text/html"):
            html += 1
            _assert_strict_csp(response, path)
            _assert_common_headers(response)
    assert html >= 20, html  # the admin alone has dozens of pages: the walk must have reached them
    print(f"CSP checked on {html} HTML responses: 100%")


def test_templates_have_no_inline_script_or_style():
    import pathlib
    import re

    found = []
    for template in pathlib.Path(ROOT, "gridgov").rglob("templates/**/*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text) or re.search(r"<style\b|\sstyle=|\son[a-z]+=", text):
            found.append(str(template))
    assert found == []


def test_api_responses_are_not_stored(as_user, w):
    response = as_user("dispatcher").get("/me")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    _assert_common_headers(response)
    assert "no-store" in Client().get("/api/health")["Cache-Control"]


def test_pages_for_signed_in_users_are_not_stored(client, w):
    assert "no-store" not in client.get("/").get("Cache-Control", "")
    verified_login(client, w.users["dispatcher"])  # with its second factor
    assert "no-store" in client.get("/")["Cache-Control"]


def test_tls_on_redirects_plain_http_and_sends_hsts(settings, client):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/api/health")
    assert response.status_code == 301 and response["Location"] == "https://testserver/api/health"
    secure = client.get("/api/health", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


def _settings_under(env: dict) -> dict:
    code = ("import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({k: getattr(s, k, None) "
            "for k in ('SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
            "'SECURE_PROXY_SSL_HEADER', 'DEBUG', 'SECRET_KEY_SOURCE')}))")
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "gridgov.settings", **env}
    full.pop("GRIDGOV_DEBUG", None) if "GRIDGOV_DEBUG" not in env else None
    out = subprocess.run([sys.executable, "-c", code], env=full, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tls_environment_switches_on_every_transport_setting(tmp_path):
    on = _settings_under({"GRIDGOV_TLS": "on", "GRIDGOV_SECRET_KEY": "k" * 60, "GRIDGOV_VAR_DIR": str(tmp_path)})
    assert on == {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000, "SESSION_COOKIE_SECURE": True,
                  "CSRF_COOKIE_SECURE": True, "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
                  "DEBUG": False, "SECRET_KEY_SOURCE": "env"}  # pragma: allowlist secret
    off = _settings_under({"GRIDGOV_TLS": "off", "GRIDGOV_VAR_DIR": str(tmp_path)})
    assert off["SECURE_SSL_REDIRECT"] is False and off["SESSION_COOKIE_SECURE"] is False
    assert off["SECRET_KEY_SOURCE"] == "generated" and (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # pragma: allowlist secret


def test_no_secret_key_literal_in_the_repository():
    settings_text = open(os.path.join(ROOT, "gridgov", "settings.py")).read()
    assert "SECRET_KEY = \"" not in settings_text and "SECRET_KEY = '" not in settings_text


def _boom(request):
    raise RuntimeError("secret internals: /etc/passwd line 42")


@pytest.fixture
def failing_routes(settings):
    from django.urls import path

    import gridgov.urls

    class Urls:
        urlpatterns = [path("boom/", _boom), path("api/boom/", _boom), *gridgov.urls.urlpatterns]
        handler500 = gridgov.urls.handler500
        handler404 = gridgov.urls.handler404

    settings.ROOT_URLCONF = Urls
    return Client(raise_request_exception=False)


def test_server_error_shows_no_trace(failing_routes):
    page = failing_routes.get("/boom/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "服务器内部错误" in body and "secret internals" not in body and "Traceback" not in body
    _assert_strict_csp(page, "/boom/")
    api = failing_routes.get("/api/boom/")
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in api.content.decode()


def test_not_found_page_is_chinese_and_plain(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404 and "页面不存在" in response.content.decode()
    assert "Using the URLconf" not in response.content.decode()


def test_oversized_request_is_413_before_reading(client, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "MAX_REQUEST_BYTES": 1000}
    response = client.post("/api/cases", data=b"x" * 2000, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_csrf_failure_is_a_plain_403(w):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/admin/login/", {"username": "admin", "password": "x"})
    assert response.status_code == 403 and "刷新页面" in response.content.decode()
