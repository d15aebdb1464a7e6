"""The key service (密钥管理): master keys with versions, per-subject data keys wrapped by
them (envelope encryption), the blind-index key, and a small per-process cache.

Master keys come from the environment or from a key file outside the database, never from
the repository or the database:

  GRIDGOV_MASTER_KEYS      "1:<base64 32 bytes>,2:<base64>"; the highest version is current
                           unless GRIDGOV_MASTER_KEY_VERSION names another
  GRIDGOV_BLIND_INDEX_KEY  base64 of 32 bytes; required with GRIDGOV_MASTER_KEYS
  GRIDGOV_KEY_FILE         otherwise: a JSON key file (default var/keys.json, created by
                           `gridgov privacy init-keys`; only in DEBUG is it created on demand)

Every data subject (a person: "tel:<blind index>" for someone known by phone, "ric:…" by ID
number, "row:…" for a name with nothing to find it by) has one random 256-bit data key,
stored wrapped by a master key version in `privacy.SubjectKey`. Destroying that row's
wrapped key is crypto-shredding: every ciphertext of the person, in the table, the WAL,
replicas and backups, becomes noise.
"""

import base64
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from . import crypto

log = logging.getLogger(__name__)
KEY_BYTES = 32


class KeyDestroyed(Exception):
    """The data key was destroyed (the person was anonymised): the value is gone for good."""


def privacy_setting(name: str):
    defaults = {
        "CIPHER": "aes-256-gcm", "BLIND_INDEX_HASH": "sm3", "KEY_FILE": None,
        "CACHE_SIZE": 2048, "CACHE_SECONDS": 300, "MASK": None,
    }
    return getattr(settings, "GRIDGOV_PRIVACY", {}).get(name, defaults[name])


def current_cipher() -> str:
    name = privacy_setting("CIPHER")
    if name not in crypto.CIPHERS:
        raise ImproperlyConfigured(f"GRIDGOV_PRIVACY CIPHER must be one of {sorted(crypto.CIPHERS)}, not {name!r}")
    return crypto.CIPHERS[name]


# --- the key ring -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRing:
    master: dict[int, bytes]
    current: int
    blind: bytes
    source: str


_ring: KeyRing | None = None
_ring_lock = threading.Lock()


def _b64key(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ImproperlyConfigured(f"{what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"{what} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def key_file_path() -> Path:
    configured = privacy_setting("KEY_FILE") or os.environ.get("GRIDGOV_KEY_FILE")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "keys.json"


def _check_location(path: Path) -> None:
    """Refuse a key file that sits in the source tree (it could be committed)."""
    base, var = Path(settings.BASE_DIR).resolve(), Path(settings.VAR_DIR).resolve()
    where = path.resolve()
    if where.is_relative_to(base) and not where.is_relative_to(var):
        raise ImproperlyConfigured(f"The key file {path} lies inside the source tree; keep it outside (or under var/)")


def new_key_file_data() -> dict:
    return {
        "format": 1, "current": 1,
        "master_keys": {"1": base64.b64encode(os.urandom(KEY_BYTES)).decode()},
        "blind_index_key": base64.b64encode(os.urandom(KEY_BYTES)).decode(),
    }


def write_key_file(path: Path, data: dict) -> None:
    """Write the key file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def ensure_key_file() -> tuple[Path, bool]:
    """Create the local key file if keys come from no environment variable and none exists."""
    path = key_file_path()
    if os.environ.get("GRIDGOV_MASTER_KEYS") or path.exists():
        return path, False
    _check_location(path)
    write_key_file(path, new_key_file_data())
    return path, True


def _load() -> KeyRing:
    env = os.environ.get("GRIDGOV_MASTER_KEYS", "").strip()
    if env:
        master = {}
        for part in env.split(","):
            version, _, text = part.partition(":")
            if not version.strip().isdigit():
                raise ImproperlyConfigured("GRIDGOV_MASTER_KEYS entries look like '1:<base64>'")
            master[int(version)] = _b64key(text, f"master key version {version}")
        blind_text = os.environ.get("GRIDGOV_BLIND_INDEX_KEY", "")
        if not blind_text:
            raise ImproperlyConfigured("GRIDGOV_BLIND_INDEX_KEY must be set with GRIDGOV_MASTER_KEYS")
        current = int(os.environ.get("GRIDGOV_MASTER_KEY_VERSION") or max(master))
        ring = KeyRing(master, current, _b64key(blind_text, "GRIDGOV_BLIND_INDEX_KEY"), "environment")
    else:
        path = key_file_path()
        _check_location(path)
        if not path.exists():
            if not settings.DEBUG:
                raise ImproperlyConfigured(
                    f"No master keys: set GRIDGOV_MASTER_KEYS or GRIDGOV_KEY_FILE (missing {path}); "
                    "`gridgov privacy init-keys` creates a key file"
                )
            ensure_key_file()
            log.warning("Created a development key file at %s", path)
        if not settings.DEBUG and path.stat().st_mode & 0o077:
            raise ImproperlyConfigured(f"The key file {path} is readable by others; chmod 600 it")
        data = json.loads(path.read_text())
        master = {int(v): _b64key(k, f"master key version {v}") for v, k in data["master_keys"].items()}
        ring = KeyRing(master, int(data["current"]), _b64key(data["blind_index_key"], "blind_index_key"), str(path))
    if ring.current not in ring.master:
        raise ImproperlyConfigured(f"The current master key version {ring.current} is not in the key ring")
    return ring


def ring() -> KeyRing:
    global _ring
    if _ring is None:
        with _ring_lock:
            if _ring is None:
                _ring = _load()
    return _ring


def reset() -> None:
    """Forget the loaded key ring and every cached data key (tests, rotation)."""
    global _ring
    with _ring_lock:
        _ring = None
    _cache.clear()


# --- blind index --------------------------------------------------------------------------


def blind_index(kind: str, normalised: str) -> str:
    """The keyed hash (HMAC-SM3 by default) of an already normalised value, domain-separated
    by its kind, as 32 hex characters: equal inputs give equal indexes, nothing else leaks."""
    if not normalised:
        return ""
    digest = crypto.keyed_hash(ring().blind, f"{kind}:{normalised}".encode(), privacy_setting("BLIND_INDEX_HASH"))
    return digest[:16].hex()


# --- data keys ----------------------------------------------------------------------------


class _DataKey:
    __slots__ = ("aeads", "expires", "raw")

    def __init__(self, raw: bytearray, ttl: float):
        self.raw, self.aeads, self.expires = raw, {}, time.monotonic() + ttl

    def aead(self, alg: str) -> crypto.Aead:
        found = self.aeads.get(alg)
        if found is None:
            found = self.aeads[alg] = crypto.Aead(self.raw, alg)
        return found


class _Cache:
    """Unwrapped data keys by id and subject → id, least recently used first out, each
    entry for a few minutes at most so a key destroyed by another process stops working."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_id: OrderedDict[int, _DataKey] = OrderedDict()
        self.by_subject: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def get_id(self, key_id: int) -> _DataKey | None:
        with self.lock:
            entry = self.by_id.get(key_id)
            if entry is None:
                return None
            if entry.expires < time.monotonic():
                self._drop(key_id)
                return None
            self.by_id.move_to_end(key_id)
            return entry

    def get_subject(self, subject: str) -> int | None:
        with self.lock:
            found = self.by_subject.get(subject)
            if found is None or found[0] < time.monotonic() or found[1] not in self.by_id:
                return None
            self.by_subject.move_to_end(subject)
            return found[1]

    def put(self, key_id: int, raw: bytearray, subject: str | None = None) -> _DataKey:
        """Remember a key, but only once the transaction that read or created its row has
        committed: a key row rolled back must never be handed out from the cache."""
        entry = _DataKey(raw, privacy_setting("CACHE_SECONDS"))
        if connection.in_atomic_block:
            transaction.on_commit(lambda: self._insert(key_id, entry, subject))
        else:
            self._insert(key_id, entry, subject)
        return entry

    def _insert(self, key_id: int, entry: _DataKey, subject: str | None) -> None:
        size = privacy_setting("CACHE_SIZE")
        with self.lock:
            self.by_id[key_id] = entry
            self.by_id.move_to_end(key_id)
            if subject is not None:
                self.by_subject[subject] = (entry.expires, key_id)
                self.by_subject.move_to_end(subject)
            while len(self.by_id) > size:
                self._drop(next(iter(self.by_id)))
            while len(self.by_subject) > size:
                self.by_subject.popitem(last=False)

    def _drop(self, key_id: int) -> None:
        entry = self.by_id.pop(key_id, None)
        if entry is not None:
            crypto.zero(entry.raw)

    def forget(self, key_ids) -> None:
        with self.lock:
            for key_id in key_ids:
                self._drop(key_id)
            for subject in [s for s, (_, k) in self.by_subject.items() if k in set(key_ids)]:
                del self.by_subject[subject]

    def clear(self) -> None:
        with self.lock:
            for key_id in list(self.by_id):
                self._drop(key_id)
            self.by_subject.clear()


_cache = _Cache()


def _wrap_aad(subject: str, version: int) -> bytes:
    return f"gridgov:dek:{subject}:v{version}".encode()


def wrap(raw: bytes | bytearray, subject: str, version: int | None = None, alg: str | None = None) -> tuple[int, str, bytes]:
    """Seal a data key under a master key version: (version, cipher letter, wrapped bytes)."""
    keys = ring()
    version = keys.current if version is None else version
    alg = alg or current_cipher()
    return version, alg, crypto.Aead(keys.master[version], alg).seal(bytes(raw), _wrap_aad(subject, version))


def unwrap(wrapped: bytes, subject: str, version: int, alg: str) -> bytearray:
    keys = ring()
    if version not in keys.master:
        raise ImproperlyConfigured(f"Master key version {version} is needed but not in the key ring")
    return bytearray(crypto.Aead(keys.master[version], alg).open(bytes(wrapped), _wrap_aad(subject, version)))


def _table() -> str:
    from .models import SubjectKey

    return connection.ops.quote_name(SubjectKey._meta.db_table)


def subject_key(subject: str) -> tuple[int, _DataKey]:
    """The data key of a subject, created on first use: zero queries when cached, otherwise
    one indexed upsert that returns the existing row or the one just inserted."""
    key_id = _cache.get_subject(subject)
    if key_id is not None:
        entry = _cache.get_id(key_id)
        if entry is not None:
            return key_id, entry
    raw = bytearray(os.urandom(KEY_BYTES))
    version, alg, wrapped = wrap(raw, subject)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        # A no-op update on conflict makes RETURNING give the existing row's key (one round trip).
        cursor.execute(
            f"INSERT INTO {_table()} (subject, master_version, cipher, wrapped, created_at) VALUES (%s, %s, %s, %s, %s) "  # noqa: S608 (table name from the model)
            "ON CONFLICT (subject) DO UPDATE SET subject = EXCLUDED.subject RETURNING id, master_version, cipher, wrapped",
            [subject, version, alg, wrapped, now],
        )
        key_id, stored_version, stored_alg, stored = cursor.fetchone()
    stored = bytes(stored)
    if stored != wrapped:
        crypto.zero(raw)
        raw = unwrap(stored, subject, stored_version, stored_alg)
    return key_id, _cache.put(key_id, raw, subject)


def data_key(key_id: int) -> _DataKey:
    """The unwrapped data key with this id (one primary-key read when not cached)."""
    entry = _cache.get_id(key_id)
    if entry is not None:
        return entry
    from .models import SubjectKey

    row = SubjectKey.objects.filter(pk=key_id).values_list("subject", "master_version", "cipher", "wrapped", "destroyed_at").first()
    if row is None or row[4] is not None or not row[3]:
        raise KeyDestroyed(key_id)
    subject, version, alg, wrapped, _ = row
    return _cache.put(key_id, unwrap(wrapped, subject, version, alg), subject)


def destroy(key_ids) -> int:
    """Crypto-shred: overwrite the wrapped data keys and free their subjects for new keys."""
    from django.db.models import CharField, Value
    from django.db.models.functions import Cast, Concat

    from .models import SubjectKey

    key_ids = sorted({k for k in key_ids if k})
    count = SubjectKey.objects.filter(pk__in=key_ids, destroyed_at__isnull=True).update(
        wrapped=None, destroyed_at=timezone.now(),
        subject=Concat(Value("shredded:"), Cast("pk", CharField()), output_field=CharField()),
    )
    _cache.forget(key_ids)
    return count


def rewrap_all(*, batch: int = 500) -> int:
    """Re-wrap every live data key still under an older master version (or another
    cipher) with the current one; returns how many were re-wrapped."""
    from .models import SubjectKey

    keys, alg, done = ring(), current_cipher(), 0
    stale = SubjectKey.objects.filter(destroyed_at__isnull=True).exclude(master_version=keys.current, cipher=alg)
    for row in stale.order_by("pk").iterator(chunk_size=batch):
        raw = unwrap(row.wrapped, row.subject, row.master_version, row.cipher)
        row.master_version, row.cipher, row.wrapped = wrap(raw, row.subject)
        crypto.zero(raw)
        row.save(update_fields=["master_version", "cipher", "wrapped"])
        done += 1
    return done
