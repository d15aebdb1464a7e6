"""`gridgov demo` and `gridgov serve`."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gridgov.cases.models import Case
from gridgov.demo.management.commands.serve import gunicorn_argv
from gridgov.places.models import Grid, Region, RegionLevel


@pytest.mark.django_db
def test_if_empty_skips_when_regions_exist():
    Region.objects.create(code="350500", name="泉州市", level=RegionLevel.CITY)
    out = StringIO()
    call_command("demo", "--size", "small", "--if-empty", stdout=out)
    assert "跳过" in out.getvalue() and "skipped" in out.getvalue()
    assert Region.objects.count() == 1 and not Grid.objects.exists()


@pytest.mark.django_db
def test_refuses_a_database_that_holds_regions():
    Region.objects.create(code="350500", name="泉州市", level=RegionLevel.CITY)
    with pytest.raises(CommandError, match="--if-empty"):
        call_command("demo", "--size", "small")


@pytest.mark.django_db
def test_rejects_bad_arguments():
    with pytest.raises(CommandError):
        call_command("demo", "--size", "town")
    with pytest.raises(CommandError):
        call_command("demo", "--cases", "-1")
    assert not Region.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_builds_and_prints_the_logins():
    out = StringIO()
    call_command("demo", "--size", "small", "--cases", "25", "--seed", "3", stdout=out, stderr=StringIO())
    text = out.getvalue()
    for expected in ("street_dispatcher", "grid_worker", "dept_handler", "resident", "sysadmin", "Demo-2026", "网格 grids", "otpauth://"):
        assert expected in text
    assert Region.objects.filter(level=RegionLevel.DISTRICT).count() == 2
    assert Case.objects.count() >= 25
    out = StringIO()
    call_command("demo", "--size", "small", "--if-empty", stdout=out)  # a second run changes nothing
    assert "跳过" in out.getvalue() and Region.objects.filter(level=RegionLevel.CITY).count() == 1


def test_serve_runs_gunicorn_with_workers():
    argv = gunicorn_argv("127.0.0.1", 8123, 3)
    assert argv[:4] == [sys.executable, "-m", "gunicorn", "gridgov.wsgi:application"]
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:8123" and argv[argv.index("--workers") + 1] == "3"
    assert gunicorn_argv("::1", 80, 1)[argv.index("--bind") + 1] == "[::1]:80"
    out = StringIO()
    call_command("serve", "--port", "8123", "--workers", "3", "--dry-run", stdout=out, stderr=StringIO())
    assert "http://127.0.0.1:8123/" in out.getvalue() and "gunicorn gridgov.wsgi:application" in out.getvalue()
    assert "Demo-2026" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("serve", "--port", "0", "--dry-run")
    with pytest.raises(CommandError):
        call_command("serve", "--workers", "0", "--dry-run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_http(tmp_path):
    port = _free_port()
    env = {**os.environ, "GRIDGOV_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    gridgov = os.path.join(os.path.dirname(sys.executable), "gridgov")
    proc = subprocess.Popen([gridgov, "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read1().decode() if proc.poll() is not None else "gunicorn did not answer")
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
