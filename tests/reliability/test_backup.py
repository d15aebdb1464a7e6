"""gridgov backup / restore (R32, F10): encrypted envelope, SM3 manifest, digests compared
after restore, and a tampered or wrongly keyed backup refused before anything is written."""

import os
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from gridgov.cases import services as case_services
from gridgov.ops import backup
from tests.factories import build_world, photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(monkeypatch):
    value = os.urandom(32).hex()
    monkeypatch.setenv("GRIDGOV_BACKUP_KEY", value)
    monkeypatch.delenv("GRIDGOV_BACKUP_KEY_FILE", raising=False)
    return value


@pytest.fixture
def world(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    w = build_world()
    case_services.report_case(actor=w.users["worker"], channel="patrol", title="井盖缺失", grid=w.grids[0],
                              photos=[photo("a.jpg")], reporter_phone="13812345678")
    return w


@pytest.fixture
def target(tmp_path):
    """A fresh restore target of the test database's kind; a PostgreSQL one is dropped after."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    import psycopg

    db = connection.settings_dict
    name = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    url = backup.database_url_of({**db, "NAME": name})
    yield url
    with psycopg.connect(backup.database_url_of({**db, "NAME": "postgres"}), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _records(settings, name):
    import json

    path = Path(settings.VAR_DIR) / "drills" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_backup_restores_with_equal_counts_and_digests(world, key, tmp_path, target, settings, cipher, capsys):
    out = tmp_path / "b.ggbk"
    call_command("backup", "--out", str(out), "--cipher", cipher)
    assert b"13812345678" not in out.read_bytes() and b"SQLite format" not in out.read_bytes()
    call_command("restore", str(out), "--into", target, "--media-into", str(tmp_path / "media-restored"))
    assert "counts and digests match" in capsys.readouterr().out
    [record] = _records(settings, "restore")
    assert record["ok"] and record["mismatched_tables"] == [] and record["rows_restored"] == record["rows_expected"] > 50
    assert record["media_expected"] == 1 and record["media_mismatched"] == []
    assert "cases_case" in backup.sqlite_tables(Path(target[10:])) if target.startswith("sqlite") else True


def test_manifest_sees_a_changed_row(world, key, tmp_path):
    """The digest is over the rows' content: a restored copy whose row differs is a mismatch."""
    out = tmp_path / "b.ggbk"
    call_command("backup", "--out", str(out))
    folder = tmp_path / "opened"
    folder.mkdir()
    backup.open_envelope(out, bytes.fromhex(key), folder)
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    restored = {t: dict(v) for t, v in manifest["tables"].items()}
    restored["cases_case"]["sm3"] = "0" * 64
    result = backup.compare(manifest, restored, None)
    assert not result["ok"] and result["mismatched_tables"] == ["cases_case"]


@pytest.mark.parametrize("where", ["magic", "header", "body", "tag"])
def test_tampered_backup_is_refused(world, key, tmp_path, target, settings, where):
    out = tmp_path / "b.ggbk"
    call_command("backup", "--out", str(out))
    data = bytearray(out.read_bytes())
    position = {"magic": 0, "header": 20, "body": len(data) // 2, "tag": len(data) - 3}[where]
    data[position] ^= 0x01
    out.write_bytes(bytes(data))
    with pytest.raises(CommandError):
        call_command("restore", str(out), "--into", target)
    if target.startswith("sqlite"):
        assert not Path(target[10:]).exists()
    assert _records(settings, "restore")[-1]["ok"] is False


def test_truncated_or_wrong_key_is_refused(world, key, tmp_path, target, monkeypatch):
    out = tmp_path / "b.ggbk"
    call_command("backup", "--out", str(out))
    short = tmp_path / "short.ggbk"
    short.write_bytes(out.read_bytes()[:-100])
    with pytest.raises(CommandError, match="tampered|truncated"):
        call_command("restore", str(short), "--into", target)
    monkeypatch.setenv("GRIDGOV_BACKUP_KEY", os.urandom(32).hex())
    with pytest.raises(CommandError, match="wrong backup key"):
        call_command("restore", str(out), "--into", target)


def test_key_file_and_missing_key(world, tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDGOV_BACKUP_KEY", raising=False)
    monkeypatch.delenv("GRIDGOV_BACKUP_KEY_FILE", raising=False)
    with pytest.raises(CommandError, match="no backup key"):
        call_command("backup", "--out", str(tmp_path / "b.ggbk"))
    key_file = tmp_path / "backup.key"
    key_file.write_text("abcd")
    with pytest.raises(CommandError, match="64 hex"):
        call_command("backup", "--out", str(tmp_path / "b.ggbk"), "--key-file", str(key_file))
    key_file.write_text(os.urandom(32).hex())
    call_command("backup", "--out", str(tmp_path / "b.ggbk"), "--key-file", str(key_file))
    assert (tmp_path / "b.ggbk").stat().st_size > 1000


def test_restore_refuses_a_used_target(world, key, tmp_path):
    out = tmp_path / "b.ggbk"
    call_command("backup", "--out", str(out))
    if connection.vendor == "sqlite":
        used = tmp_path / "used.sqlite3"
        used.write_bytes(b"x")
        into = f"sqlite:///{used}"
    else:
        into = backup.database_url_of(connection.settings_dict)  # the live test database itself
    with pytest.raises(CommandError, match="fresh"):
        call_command("restore", str(out), "--into", into)
