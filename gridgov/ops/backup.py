"""Encrypted, verifiable backups (备份) and their restore (恢复).

A backup file is an authenticated envelope around a tar stream:

    b"GGBK1\\n" | header length (4 bytes, big-endian) | header (JSON) | ciphertext | GCM tag (16 bytes)

The header (cipher, salt, nonce, key id, engine, time) is bound to the ciphertext as GCM
associated data, so changing any byte of the file — header, body or tag — makes the
restore refuse it before anything is written. The content key is derived with HKDF-SHA256
from the backup key (env `GRIDGOV_BACKUP_KEY`, 64 hex digits, or a file named by
`GRIDGOV_BACKUP_KEY_FILE`; never the repository or the database) and a fresh salt per
file. Ciphers: AES-256-GCM (default) or SM4-GCM (商用密码, `--cipher sm4`).

Inside the tar: `manifest.json`, the database (`db.sqlite3` from SQLite's online backup
API, or `db.dump` from `pg_dump -Fc`) and `media/` (uploaded photos). The manifest holds
per-table row counts and SM3 digests of each table's canonical rows, taken from the same
snapshot as the dump (SQLite: the backup copy itself; PostgreSQL: `pg_dump --snapshot`
with the digests read in that exported snapshot), plus the SM3 of every media file. A
restore recomputes all of them on the restored copy and reports any difference.

Writes may go on during a backup: the snapshot is consistent, and whatever commits after
it is the recovery point objective (RPO) of this backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"GGBK1\n"
TAG_LENGTH = 16
CHUNK = 1 << 20
CIPHERS = {"aes-256-gcm": (algorithms.AES, 32), "sm4-gcm": (algorithms.SM4, 16)}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why (Chinese / English)."""


# --- keys -------------------------------------------------------------------------------


def load_key(key_file: str | None = None) -> bytes:
    """The 32-byte backup key from --key-file, GRIDGOV_BACKUP_KEY_FILE or GRIDGOV_BACKUP_KEY."""
    path = key_file or os.environ.get("GRIDGOV_BACKUP_KEY_FILE")
    raw = Path(path).read_text().strip() if path else os.environ.get("GRIDGOV_BACKUP_KEY", "").strip()
    if not raw:
        raise BackupError("未配置备份密钥：设置 GRIDGOV_BACKUP_KEY 或 GRIDGOV_BACKUP_KEY_FILE / "
                          "no backup key: set GRIDGOV_BACKUP_KEY or GRIDGOV_BACKUP_KEY_FILE")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise BackupError("备份密钥须为64位十六进制（32字节）/ the backup key must be 64 hex digits (32 bytes)")
    return key


def key_id(key: bytes) -> str:
    """Names the key (not secret): SM3 of the key, first 16 hex digits."""
    return hashlib.new("sm3", b"gridgov-backup-key-id" + key).hexdigest()[:16]


def _content_key(key: bytes, salt: bytes, cipher: str) -> bytes:
    length = CIPHERS[cipher][1]
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=b"gridgov-backup " + cipher.encode()).derive(key)


# --- canonical digests -------------------------------------------------------------------


def _canonical(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _table_digest(cursor, table: str, order: list[str], quote) -> tuple[int, str]:
    cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY {', '.join(quote(c) for c in order)}")  # table and column names come from the catalog  # noqa: S608 (catalog names, quoted)
    digest, count = hashlib.new("sm3"), 0
    while rows := cursor.fetchmany(2000):
        for row in rows:
            digest.update(json.dumps(_canonical(list(row)), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode())
            digest.update(b"\n")
            count += 1
    return count, digest.hexdigest()


def sqlite_tables(path: Path) -> dict:
    """{table: {"rows": n, "sm3": digest}} of a SQLite file, rows in primary-key order."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = conn.cursor()
        names = [r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for name in names:
            info = cur.execute(f'PRAGMA table_info("{name}")').fetchall()
            pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or [r[1] for r in info]
            rows, digest = _table_digest(cur, name, pk, lambda n: '"' + n.replace('"', '""') + '"')
            out[name] = {"rows": rows, "sm3": digest}
        return out
    finally:
        conn.close()


def pg_tables(conn) -> dict:
    """The same for the public schema of a PostgreSQL connection (psycopg), in its snapshot."""
    cur = conn.cursor()
    names = [r[0] for r in cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
    out = {}
    for name in names:
        pk = [r[0] for r in cur.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            (f'public."{name}"',),
        ).fetchall()]
        if not pk:
            pk = [r[0] for r in cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
                "ORDER BY ordinal_position", (name,)).fetchall()]
        rows, digest = _table_digest(cur, name, pk, lambda n: '"' + n.replace('"', '""') + '"')
        out[name] = {"rows": rows, "sm3": digest}
    return out


def media_digests(root: Path) -> dict:
    """{relative path: SM3} of every file under the media folder."""
    out = {}
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest = hashlib.new("sm3")
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
            out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out


# --- the envelope --------------------------------------------------------------------------


class _EncryptingWriter(io.RawIOBase):
    """A write-only file that encrypts into `out`; `close_envelope()` appends the tag."""

    def __init__(self, out, encryptor):
        self.out, self.encryptor = out, encryptor

    def writable(self):
        return True

    def write(self, data):
        self.out.write(self.encryptor.update(bytes(data)))
        return len(data)

    def close_envelope(self):
        self.out.write(self.encryptor.finalize())
        self.out.write(self.encryptor.tag)


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal(out_path: Path, members: list[tuple[str, Path]], manifest: dict, key: bytes, cipher: str, engine: str) -> dict:
    """Write the envelope: the manifest and `members` (archive name, file or folder) as a tar."""
    if cipher not in CIPHERS:
        raise BackupError(f"不支持的加密算法 {cipher} / unknown cipher {cipher}")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {"format": 1, "cipher": cipher, "salt": salt.hex(), "nonce": nonce.hex(), "key_id": key_id(key),
              "engine": engine, "created_at": manifest["created_at"]}
    header_bytes = _header_bytes(header)
    algorithm, _ = CIPHERS[cipher]
    encryptor = Cipher(algorithm(_content_key(key, salt, cipher)), modes.GCM(nonce)).encryptor()
    prefix = MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes
    encryptor.authenticate_additional_data(prefix)
    tmp = out_path.with_name(out_path.name + ".partial")
    with tmp.open("wb") as out:
        out.write(prefix)
        writer = _EncryptingWriter(out, encryptor)
        with tarfile.open(fileobj=writer, mode="w|") as tar:
            data = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for name, path in members:
                if path.exists():
                    tar.add(path, arcname=name)
        writer.close_envelope()
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, out_path)
    _fsync_dir(out_path.parent)
    return header


def open_envelope(path: Path, key: bytes, into: Path) -> dict:
    """Decrypt and authenticate `path` into the folder `into`; return its header.

    The whole ciphertext is authenticated before the tar is read: a tampered or truncated
    file, or the wrong key, raises BackupError and leaves nothing behind."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupError("不是 gridgov 备份文件 / not a gridgov backup file")
        (length,) = struct.unpack(">I", f.read(4))
        if length > 65536:
            raise BackupError("备份文件头损坏 / corrupt backup header")
        header_bytes = f.read(length)
        try:
            header = json.loads(header_bytes)
            cipher, salt, nonce = header["cipher"], bytes.fromhex(header["salt"]), bytes.fromhex(header["nonce"])
            algorithm, _ = CIPHERS[cipher]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError("备份文件头损坏 / corrupt backup header") from exc
        if header.get("key_id") != key_id(key):
            # The key id is inside the authenticated header, so this is either the wrong
            # key or a tampered header: refuse either way.
            raise BackupError("备份密钥不匹配或文件被篡改 / wrong backup key or tampered file")
        body_start = len(MAGIC) + 4 + length
        body_length = size - body_start - TAG_LENGTH
        if body_length < 0:
            raise BackupError("备份文件被截断 / truncated backup file")
        f.seek(size - TAG_LENGTH)
        tag = f.read(TAG_LENGTH)
        f.seek(body_start)
        decryptor = Cipher(algorithm(_content_key(key, salt, cipher)), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(MAGIC + struct.pack(">I", length) + header_bytes)
        plain = into / "payload.tar"
        remaining = body_length
        with plain.open("wb") as out:
            while remaining:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                out.write(decryptor.update(chunk))
            try:
                out.write(decryptor.finalize())
            except InvalidTag:
                out.close()
                plain.unlink()
                raise BackupError("备份文件校验失败（被篡改、损坏或密钥错误），拒绝恢复 / "
                                  "backup failed authentication (tampered, corrupt or wrong key): refused") from None
    with tarfile.open(plain) as tar:
        tar.extractall(into, filter="data")
    plain.unlink()
    return header


# --- taking a backup --------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pg_tool(name: str) -> str:
    """The newest `pg_dump`/`pg_restore` on this machine (it must not be older than the server)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parent.parent.name)
                        if p.parent.parent.name.isdigit() else 0)
    found = str(candidates[-1]) if candidates else shutil.which(name)
    if not found:
        raise BackupError(f"找不到 {name} / {name} not found")
    return found


def _libpq_url(url: str) -> str:
    # dj-database-url accepts postgres://; libpq too, but drop Django-only query options.
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


def database_settings():
    from django.conf import settings

    return settings.DATABASES["default"]


def database_url_of(db: dict) -> str:
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def take_backup(out: Path, *, key: bytes, cipher: str = "aes-256-gcm", media_root: Path | None = None) -> dict:
    """Back up the configured database and media into `out`; returns the manifest."""
    db = database_settings()
    engine = "sqlite" if db["ENGINE"].endswith("sqlite3") else "postgresql"
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="gridgov-backup-") as tmp_name:
        tmp = Path(tmp_name)
        if engine == "sqlite":
            dump = tmp / "db.sqlite3"
            name = str(db["NAME"])
            src = sqlite3.connect(name, uri=name.startswith("file:"))  # the test suite's shared in-memory database
            dst = sqlite3.connect(dump)
            try:
                # The online backup API copies a consistent snapshot while writers go on.
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            tables = sqlite_tables(dump)
        else:
            dump = tmp / "db.dump"
            tables = _pg_dump_with_digests(database_url_of(db), dump)
        # Media after the database: a photo committed later may be in media/ without its
        # row (harmless, swept on restore); every row in the snapshot has its file.
        media = media_digests(media_root) if media_root else {}
        dump_sm3 = media_digests(tmp)[dump.name]
        manifest = {
            "format": 1, "engine": engine, "created_at": started.isoformat(), "tables": tables,
            "rows": sum(t["rows"] for t in tables.values()), "dump": {"name": dump.name, "sm3": dump_sm3},
            "media": media,
        }
        seal(out, [(dump.name, dump), *([("media", media_root)] if media_root and media_root.is_dir() else [])],
             manifest, key, cipher, engine)
    return manifest


def _pg_dump_with_digests(url: str, dump: Path) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        # pg_dump reads the very snapshot the digests are read in, while writes go on.
        proc = subprocess.Popen([pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-acl", f"--snapshot={snapshot}",  # noqa: S603 (fixed argv, no shell)
                                 "-f", str(dump), "--dbname", _libpq_url(url)], stderr=subprocess.PIPE, text=True)
        tables = pg_tables(conn)
        _, err = proc.communicate(timeout=3600)
        conn.execute("COMMIT")
    if proc.returncode != 0:
        raise BackupError(f"pg_dump 失败 / pg_dump failed: {err.strip()[-500:]}")
    return tables


# --- restoring -------------------------------------------------------------------------------


def restore(path: Path, *, key: bytes, into: str, media_into: Path | None = None) -> dict:
    """Restore `path` into a fresh SQLite file or a fresh (empty or absent) PostgreSQL
    database and compare counts and digests with the manifest. Returns the comparison."""
    with tempfile.TemporaryDirectory(prefix="gridgov-restore-") as tmp_name:
        tmp = Path(tmp_name)
        header = open_envelope(path, key, tmp)
        manifest = json.loads((tmp / "manifest.json").read_text())
        dump = tmp / manifest["dump"]["name"]
        if media_digests(tmp).get(dump.name) != manifest["dump"]["sm3"]:
            raise BackupError("数据库转储的SM3与清单不符 / the dump's SM3 does not match the manifest")
        if manifest["engine"] == "sqlite":
            target = Path(into.removeprefix("sqlite:///"))
            if target.exists():
                raise BackupError(f"目标文件已存在，请指定新文件 / {target} exists: restore into a fresh file")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dump, target)
            with target.open("rb") as f:
                os.fsync(f.fileno())
            restored = sqlite_tables(target)
        else:
            restored = _pg_restore(dump, into)
        media = {}
        if media_into is not None and (tmp / "media").is_dir():
            shutil.copytree(tmp / "media", media_into, dirs_exist_ok=True)
            media = media_digests(media_into)
    return compare(manifest, restored, media if media_into is not None else None) | {"header": header}


def _pg_restore(dump: Path, into: str) -> dict:
    import psycopg

    url = _libpq_url(into)
    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    with psycopg.connect(url) as conn:
        used = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    if used:
        raise BackupError(f"目标数据库 {name} 非空，请指定新库 / database {name} is not empty: restore into a fresh one")
    proc = subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "-d", url, str(dump)],  # noqa: S603 (fixed argv, no shell)
                          capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise BackupError(f"pg_restore 失败 / pg_restore failed: {proc.stderr.strip()[-500:]}")
    with psycopg.connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return pg_tables(conn)


def compare(manifest: dict, restored: dict, media: dict | None) -> dict:
    """Counts and digests, table by table; `ok` only if every one matches."""
    expected = manifest["tables"]
    mismatched = sorted(t for t in set(expected) | set(restored) if expected.get(t) != restored.get(t))
    result = {
        "tables": len(expected), "rows_expected": manifest["rows"], "rows_restored": sum(t["rows"] for t in restored.values()),
        "mismatched_tables": mismatched, "created_at": manifest["created_at"], "engine": manifest["engine"],
    }
    if media is not None:
        result["media_expected"] = len(manifest["media"])
        result["media_mismatched"] = sorted(k for k, v in manifest["media"].items() if media.get(k) != v)
    result["ok"] = not mismatched and not result.get("media_mismatched")
    return result


@contextmanager
def drill_log(name: str):
    """Append one JSON line per drill to var/drills/<name>.jsonl (evidence for assessors)."""
    from django.conf import settings

    record = {"at": dt.datetime.now(dt.UTC).isoformat(), "drill": name}
    try:
        yield record
    finally:
        folder = Path(settings.VAR_DIR) / "drills"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{name}.jsonl").open("a") as f:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
