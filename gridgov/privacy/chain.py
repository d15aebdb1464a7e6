"""The hash chains of the audit log (审计链) and their signed checkpoints.

Layout. Records hang on K parallel chains (``GRIDGOV["AUDIT"]["CHAINS"]``, default 16).
A record on chain c at position n stores ``prev_hash`` (the hash of record n-1 of chain c,
"" for n = 1) and ``hash = H(prev_hash ‖ "\\n" ‖ canonical(record))``, where canonical is
sorted-key compact JSON of every field but the id, the chain and position included. H is
SHA-256, or SM3 with ``GRIDGOV_AUDIT_HASH=sm3``; the stored hash is prefixed "sha256:" or
"sm3:" so a chain verifies across a change of the setting.

Concurrency. A thread keeps writing to one chain (picked at random on first use), and the
process remembers each chain's last (seq, hash) as a hint. The append is ONE statement:

    INSERT … SELECT <values> WHERE EXISTS (the predecessor with exactly that seq and hash)
    ON CONFLICT (chain, seq) DO NOTHING RETURNING id

It inserts only if the hint is right; if another writer got there first (conflict) or
the hint is stale (predecessor missing, e.g. rolled back), nothing is inserted, and the
writer moves to another chain (so writers that collided spread out), reads its head and
tries again. Writers on different chains never
wait for each other; two on the same chain wait on the unique index entry until the
first commits — that is the only serialisation, and it is per chain.

Checkpoints. ``gridgov audit checkpoint`` (scheduled by the worker) stores each chain's
head signed with HMAC-SHA-256/HMAC-SM3 under a key from the environment or a key file,
never from the database: rewriting a chain from some record on, even with correct hashes,
no longer matches a later checkpoint. A retention purge leaves a signed ``purge`` anchor
where it cut each chain; verification starts there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router

from .models import AuditCheckpoint, AuditRecord

CANONICAL_FIELDS = (
    "at", "actor_id", "actor_name", "actor_role", "ip", "request_id", "user_agent", "action",
    "object_type", "object_id", "fields", "purpose", "result", "data", "chain", "seq",
)
INSERT_COLUMNS = (*CANONICAL_FIELDS, "prev_hash", "hash")
MAX_ATTEMPTS = 200


def audit_settings() -> dict:
    return settings.GRIDGOV["AUDIT"]


def algorithm() -> str:
    return audit_settings()["HASH"]


# --- hashing ------------------------------------------------------------------------------


def _iso(at) -> str:
    from datetime import UTC

    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: dict) -> bytes:
    """The bytes hashed for one record (a dict with every canonical field)."""
    body = {name: record[name] for name in CANONICAL_FIELDS}
    body["at"] = _iso(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(prev_hash: str, record: dict, alg: str | None = None) -> str:
    alg = alg or algorithm()
    digest = hashlib.new(alg, prev_hash.encode("ascii") + b"\n" + canonical(record)).hexdigest()
    return f"{alg}:{digest}"


def hash_alg(stored: str) -> str:
    return stored.split(":", 1)[0] if ":" in stored else "sha256"


# --- appending ----------------------------------------------------------------------------

_local = threading.local()
_heads: dict[tuple[str, int], tuple[int, str]] = {}


def pick_chain() -> int:
    """This thread's chain: random once per thread (and process), so writers spread out."""
    count = audit_settings()["CHAINS"]
    mine = getattr(_local, "chain", None)
    if mine is None or mine[0] != os.getpid() or mine[1] >= count:
        mine = _local.chain = (os.getpid(), random.randrange(count))  # spreading writers, not a secret  # noqa: S311  # nosec B311
    return mine[1]


def _hop(current: int) -> int:
    count = audit_settings()["CHAINS"]
    if count < 2:
        return current
    other = random.randrange(count - 1)  # spreading writers, not a secret  # noqa: S311  # nosec B311
    other += other >= current
    _local.chain = (os.getpid(), other)
    return other


def _head(cursor, table: str, chain: int) -> tuple[int, str]:
    cursor.execute(f"SELECT seq, hash FROM {table} WHERE chain = %s ORDER BY seq DESC LIMIT 1", [chain])  # table name from the model, values bound  # noqa: S608  # nosec B608
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, "")


def _insert_sql(connection, table: str) -> str:
    cols = ", ".join(INSERT_COLUMNS)
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    values = ", ".join(f"%s{json_cast}" if c in ("fields", "data") else "%s" for c in INSERT_COLUMNS)
    return (
        f"INSERT INTO {table} ({cols}) SELECT {values} WHERE {{guard}} "
        "ON CONFLICT (chain, seq) DO NOTHING RETURNING id"
    )


# PostgreSQL: Django sends every statement as fresh text with the values inlined (client-side
# binding), and the INSERT … SELECT … ON CONFLICT costs more to plan and to quote than to run.
# The append alone goes through a server-side-binding cursor that prepares it once per
# database session (psycopg's prepared-statement cache), wrapped by Django as usual (query
# log, error translation): still one statement per record, much less CPU.
_cursor_class = None


def _prepared_cursor(connection):
    global _cursor_class
    if _cursor_class is None:
        import psycopg

        class PreparedCursor(psycopg.Cursor):
            def execute(self, query, params=None, *, prepare=None, binary=None):
                return super().execute(query, params, prepare=True, binary=binary)

        _cursor_class = PreparedCursor
    return connection._prepare_cursor(_cursor_class(connection.connection))


def append(values: dict) -> AuditRecord:
    """Write one record (values: every canonical field but chain and seq) onto a chain."""
    alias = router.db_for_write(AuditRecord)
    connection = connections[alias]
    table = AuditRecord._meta.db_table
    chain = pick_chain()
    alg = algorithm()
    sql = _insert_sql(connection, table)
    at_db = connection.ops.adapt_datetimefield_value(values["at"])
    head = _heads.get((alias, chain))
    with connection.cursor() as cursor:
        insert_cursor = _prepared_cursor(connection) if connection.vendor == "postgresql" else None
        try:
            return _append(cursor, insert_cursor or cursor, sql, table, alias, chain, values, alg, at_db, head)
        finally:
            if insert_cursor is not None:
                insert_cursor.close()


def _append(cursor, target, sql, table, alias, chain, values, alg, at_db, head) -> AuditRecord:
    for _ in range(MAX_ATTEMPTS):
        if head is None:
            head = _head(cursor, table, chain)
        seq, prev = head[0] + 1, head[1]
        record = {**values, "chain": chain, "seq": seq}
        digest = record_hash(prev, record, alg)
        params = [
            at_db if c == "at" else json.dumps(record[c], ensure_ascii=False) if c in ("fields", "data") else record[c]
            for c in CANONICAL_FIELDS
        ] + [prev, digest]
        if seq == 1:
            target.execute(sql.format(guard=f"NOT EXISTS (SELECT 1 FROM {table} WHERE chain = %s)"), [*params, chain])  # table name from the model, values bound  # noqa: S608  # nosec B608
        else:
            guard = f"EXISTS (SELECT 1 FROM {table} WHERE chain = %s AND seq = %s AND hash = %s)"  # table name from the model, values bound  # noqa: S608  # nosec B608
            target.execute(sql.format(guard=guard), [*params, chain, head[0], prev])
        row = target.fetchone()
        if row is not None:
            _heads[(alias, chain)] = (seq, digest)
            return AuditRecord(id=row[0], prev_hash=prev, hash=digest, **record)
        # Another writer moved the head (or ours was rolled back): move this thread to another
        # chain, so writers that collided spread out instead of queueing behind each other.
        chain, head = _hop(chain), None
    raise RuntimeError(f"audit chain {chain}: no free position after {MAX_ATTEMPTS} attempts")


def forget_heads() -> None:
    """Drop the process's head hints (tests; after restoring a database)."""
    _heads.clear()


# --- signing ------------------------------------------------------------------------------


def signing_key() -> bytes:
    """The checkpoint key: GRIDGOV_AUDIT_KEY, else the file GRIDGOV_AUDIT_KEY_FILE names, else
    (development only) var/audit_key, created once. Never stored in the database."""
    value = os.environ.get("GRIDGOV_AUDIT_KEY", "")
    if not value:
        path = audit_settings().get("KEY_FILE")
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        elif path and settings.DEBUG:
            value = os.urandom(32).hex()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
    if len(value) < 32:
        raise ImproperlyConfigured(
            "Set GRIDGOV_AUDIT_KEY (at least 32 characters) or GRIDGOV_AUDIT_KEY_FILE to sign audit checkpoints"
        )
    return value.encode("utf-8")


def key_id(key: bytes) -> str:
    return hmac.new(key, b"gridgov-audit-key-id", "sha256").hexdigest()[:16]


def _sign_message(kind: str, chain: int, seq: int, hash_: str, at) -> bytes:
    return f"gridgov-audit|{kind}|{chain}|{seq}|{hash_}|{_iso(at)}".encode()


def sign(key: bytes, kind: str, chain: int, seq: int, hash_: str, at, alg: str | None = None) -> str:
    alg = alg or algorithm()
    return f"{alg}:" + hmac.new(key, _sign_message(kind, chain, seq, hash_, at), alg).hexdigest()


def signature_ok(key: bytes, cp: AuditCheckpoint) -> bool:
    expected = sign(key, cp.kind, cp.chain, cp.seq, cp.hash, cp.at, hash_alg(cp.signature))
    return hmac.compare_digest(expected, cp.signature)


def write_checkpoints(*, key: bytes | None = None) -> list[AuditCheckpoint]:
    """Sign the head of every chain that moved since its last checkpoint."""
    from django.db.models import Max
    from django.utils import timezone

    key = key or signing_key()
    kid = key_id(key)
    last = dict(AuditCheckpoint.objects.values_list("chain").annotate(m=Max("seq")))
    written = []
    heads = AuditRecord.objects.values("chain").annotate(m=Max("seq"))
    for row in heads:
        chain, seq = row["chain"], row["m"]
        if last.get(chain, 0) >= seq:
            continue
        hash_ = AuditRecord.objects.filter(chain=chain, seq=seq).values_list("hash", flat=True).first()
        at = timezone.now()
        cp = AuditCheckpoint.objects.create(
            at=at, kind=AuditCheckpoint.Kind.CHECKPOINT, chain=chain, seq=seq, hash=hash_, key_id=kid,
            signature=sign(key, AuditCheckpoint.Kind.CHECKPOINT, chain, seq, hash_, at),
        )
        written.append(cp)
    return written


# --- verifying ----------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str  # altered | link | gap | order | truncated | checkpoint
    chain: int
    seq: int
    record_id: int | None
    message: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "chain": self.chain, "seq": self.seq, "record_id": self.record_id, "message": self.message}


@dataclass
class Report:
    records: int = 0
    chains: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_by_chain(self) -> dict[int, Problem]:
        out: dict[int, Problem] = {}
        for p in self.problems:
            out.setdefault(p.chain, p)
        return out


_VERIFY_FIELDS = ("id", *CANONICAL_FIELDS, "prev_hash", "hash")


def verify(*, key: bytes | None = None, max_problems: int = 1000) -> Report:
    """Walk every chain and every checkpoint; list each broken link with its record id."""
    report = Report()
    problems = report.problems
    checkpoints: dict[int, list[AuditCheckpoint]] = {}
    for cp in AuditCheckpoint.objects.order_by("chain", "seq", "id"):
        checkpoints.setdefault(cp.chain, []).append(cp)
        report.checkpoints += 1
    if checkpoints and key is None:
        key = signing_key()
    # Where each chain starts: after its latest validly signed purge anchor.
    anchors: dict[int, AuditCheckpoint] = {}
    for chain, cps in checkpoints.items():
        for cp in cps:
            if not signature_ok(key, cp):
                problems.append(Problem("checkpoint", chain, cp.seq, None, f"checkpoint #{cp.pk} has a bad signature"))
            elif cp.kind == AuditCheckpoint.Kind.PURGE and (chain not in anchors or cp.seq > anchors[chain].seq):
                anchors[chain] = cp
    heads: dict[int, tuple[int, str]] = {}
    chain_ids = set(AuditRecord.objects.values_list("chain", flat=True).distinct()) | set(checkpoints)
    for chain in sorted(chain_ids):
        report.chains += 1
        anchor = anchors.get(chain)
        expected, prev_stored, prev_computed = (anchor.seq + 1, anchor.hash, anchor.hash) if anchor else (1, "", "")
        prev_id, prev_intact = 0, True
        rows = AuditRecord.objects.filter(chain=chain, seq__gte=expected).order_by("seq").values_list(*_VERIFY_FIELDS)
        last_seq, last_hash = expected - 1, prev_stored
        for values in rows.iterator(chunk_size=5000):
            if len(problems) >= max_problems:
                break
            row = dict(zip(_VERIFY_FIELDS, values, strict=True))
            report.records += 1
            rid, seq = row["id"], row["seq"]
            try:
                computed = record_hash(row["prev_hash"], row, hash_alg(row["hash"]))
            except ValueError:  # an unknown algorithm prefix: the stored hash itself was edited
                computed = None
            intact = computed == row["hash"]
            if seq != expected:
                problems.append(Problem(
                    "gap", chain, expected, rid,
                    f"chain {chain}: seq {expected}…{seq - 1} missing (deleted) before record #{rid}",
                ))
            elif not intact:
                problems.append(Problem("altered", chain, seq, rid, f"record #{rid} (chain {chain}, seq {seq}) was altered"))
            # Behind an altered row the link cannot be judged (its true hash is unknown); that row is already named.
            elif prev_intact and row["prev_hash"] not in (prev_stored, prev_computed):
                problems.append(Problem(
                    "link", chain, seq, rid, f"record #{rid} (chain {chain}, seq {seq}) does not follow its predecessor",
                ))
            elif rid <= prev_id:
                problems.append(Problem(
                    "order", chain, seq, rid, f"record #{rid} (chain {chain}, seq {seq}) is out of insertion order",
                ))
            expected, prev_stored, prev_computed, prev_id, prev_intact = seq + 1, row["hash"], computed, rid, intact
            last_seq, last_hash = seq, row["hash"]
        heads[chain] = (last_seq, last_hash)
        for cp in checkpoints.get(chain, []):
            if anchor and cp.seq <= anchor.seq:
                continue
            if cp.seq > last_seq:
                problems.append(Problem(
                    "truncated", chain, cp.seq, None,
                    f"chain {chain} ends at seq {last_seq} but checkpoint #{cp.pk} signed seq {cp.seq}",
                ))
            elif cp.kind == AuditCheckpoint.Kind.CHECKPOINT:
                stored = AuditRecord.objects.filter(chain=chain, seq=cp.seq).values_list("id", "hash").first()
                if stored is not None and stored[1] != cp.hash:
                    problems.append(Problem(
                        "checkpoint", chain, cp.seq, stored[0],
                        f"record #{stored[0]} (chain {chain}, seq {cp.seq}) differs from signed checkpoint #{cp.pk}",
                    ))
    return report
