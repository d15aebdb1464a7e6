"""Durability settings asserted at start-up (R30): every connection proves WAL, synchronous=FULL,
foreign keys and secure_delete on SQLite, and fsync, full_page_writes and synchronous_commit on
PostgreSQL; a process with a weaker setting refuses to start."""

import os
import socket
import subprocess
import sys

import dj_database_url
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from gridgov.security import durability

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD_SQLITE = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=10000;"
PG_URL = os.environ.get("GRIDGOV_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _probes_may_connect(django_db_blocker):
    """The probes below open their own connections (not the test database's)."""
    with django_db_blocker.unblock():
        yield


def _wrapper(settings_dict: dict, alias: str = "probe"):
    from django.db.utils import load_backend

    full = {**connection.settings_dict, **settings_dict}
    full.setdefault("TEST", {})
    return load_backend(full["ENGINE"]).DatabaseWrapper(full, alias=alias)


def _sqlite(tmp_path, init_command: str):
    return _wrapper({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "probe.sqlite3"),
                     "OPTIONS": {"init_command": init_command, "transaction_mode": "IMMEDIATE"},
                     "CONN_MAX_AGE": 0, "USER": "", "PASSWORD": "", "HOST": "", "PORT": ""})


def _pg_reachable() -> bool:
    url = dj_database_url.parse(PG_URL)
    try:
        socket.create_connection((url["HOST"] or "127.0.0.1", int(url["PORT"] or 5432)), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.django_db
def test_the_suites_own_connection_is_durable():
    problems, _warnings = durability.inspect(connection)
    assert problems == []


def test_a_durable_sqlite_file_is_accepted(tmp_path):
    db = _sqlite(tmp_path, GOOD_SQLITE)
    db.ensure_connection()
    with db.cursor() as cursor:
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA secure_delete").fetchone()[0] == 1
    db.close()


@pytest.mark.parametrize("weaken, message", [
    ("PRAGMA synchronous=NORMAL", "synchronous"),
    ("PRAGMA synchronous=OFF", "synchronous"),
    ("PRAGMA journal_mode=DELETE", "journal_mode"),
    ("PRAGMA secure_delete=OFF", "secure_delete"),
    ("PRAGMA foreign_keys=OFF", "foreign_keys"),
    ("PRAGMA busy_timeout=0", "busy_timeout"),
])
def test_a_weak_sqlite_connection_is_refused(tmp_path, weaken, message):
    db = _sqlite(tmp_path, f"{GOOD_SQLITE} {weaken};")
    with pytest.raises(ImproperlyConfigured, match=message):
        db.ensure_connection()
    # Refused connections are closed: the next use checks again instead of slipping through.
    assert db.connection is None
    with pytest.raises(ImproperlyConfigured):
        db.ensure_connection()


@pytest.mark.skipif(not _pg_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
@pytest.mark.parametrize("options, refused", [
    ("", False),
    ("-c synchronous_commit=off", True),
    ("-c synchronous_commit=local", False),
])
def test_postgresql_synchronous_commit_off_is_refused(options, refused):
    settings_dict = dj_database_url.parse(PG_URL)
    settings_dict["OPTIONS"] = {"options": options} if options else {}
    db = _wrapper({**settings_dict, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False})
    try:
        if refused:
            with pytest.raises(ImproperlyConfigured, match="synchronous_commit is 'off'"):
                db.ensure_connection()
        else:
            db.ensure_connection()
            assert durability.inspect(db)[0] == []
    finally:
        db.close()


def _start(env: dict, *args, timeout=60):
    full = {**os.environ, **env}
    full.pop("GRIDGOV_UNSAFE_ALLOW_NON_DURABLE", None)
    return subprocess.run([sys.executable, *args], env=full, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _sqlite_env(tmp_path, settings_module="gridgov.settings") -> dict:
    return {"DJANGO_SETTINGS_MODULE": settings_module, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
            "GRIDGOV_VAR_DIR": str(tmp_path), "GRIDGOV_SECRET_KEY": "x" * 64}


def test_the_application_refuses_to_start_on_a_weak_sqlite(tmp_path):
    good = _start(_sqlite_env(tmp_path), "-c", "import gridgov.wsgi")
    assert good.returncode == 0, good.stderr[-2000:]
    bad_env = _sqlite_env(tmp_path, "tests.security.bad_sqlite_settings")
    bad = _start(bad_env, "-c", "import gridgov.wsgi")
    assert bad.returncode != 0 and "refusing to run" in bad.stderr and "synchronous is 1" in bad.stderr
    check = _start(bad_env, "-m", "gridgov.cli", "check", "--database", "default")
    assert check.returncode != 0 and "refusing to run" in check.stderr + check.stdout


def test_gunicorn_refuses_to_serve_a_weak_database(tmp_path):
    env = _sqlite_env(tmp_path, "tests.security.bad_sqlite_settings")
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    started = _start(env, "-m", "gunicorn", "gridgov.wsgi:application", "--bind", f"127.0.0.1:{number}", "--workers", "1",
                     timeout=120)
    assert started.returncode != 0
    assert "refusing to run" in started.stderr and "Worker failed to boot" in started.stderr


@pytest.mark.skipif(not _pg_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_the_application_refuses_to_start_on_postgresql_without_synchronous_commit(tmp_path):
    url = PG_URL + ("&" if "?" in PG_URL else "?") + "options=-c%20synchronous_commit%3Doff"
    env = {"DJANGO_SETTINGS_MODULE": "gridgov.settings", "DATABASE_URL": url, "GRIDGOV_VAR_DIR": str(tmp_path),
           "GRIDGOV_SECRET_KEY": "x" * 64}
    bad = _start(env, "-c", "import gridgov.wsgi")
    assert bad.returncode != 0 and "synchronous_commit is 'off'" in bad.stderr


def test_the_escape_hatch_is_loud(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GRIDGOV_UNSAFE_ALLOW_NON_DURABLE", "1")
    db = _sqlite(tmp_path, f"{GOOD_SQLITE} PRAGMA synchronous=NORMAL;")
    db.ensure_connection()  # accepted, with an error in the log …
    db.close()
    assert "NON-DURABLE" in caplog.text
    from gridgov.security.checks import _durability_messages

    assert "gridgov.E303" in [m.id for m in _durability_messages([])]  # … and in every deploy check
