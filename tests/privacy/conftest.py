import base64
import contextlib
import os
import random

import pytest
from django.db import connection, transaction

from gridgov.privacy import chain, keys, triggers
from gridgov.privacy.models import AuditCheckpoint, AuditRecord
from tests.api.conftest import as_user, w  # noqa: F401  (shared fixtures)


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch):
    monkeypatch.setenv("GRIDGOV_AUDIT_KEY", "test-audit-key-0123456789abcdef0123456789")
    chain.forget_heads()
    yield
    chain.forget_heads()


@contextlib.contextmanager
def triggers_bypassed():
    """What an attacker with the database owner's or superuser's power does: edit with the
    append-only triggers out of the way (PostgreSQL replica mode; SQLite: drop them)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")
    else:
        triggers.uninstall(connection)
        try:
            yield
        finally:
            triggers.install(connection)


def raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture
def committed(transactional_db):
    """A transactional test: its audit rows are removed afterwards with the triggers out of
    the way, so the flush that follows finds the audit tables empty (it may then truncate them)."""
    yield
    with transaction.atomic(), triggers_bypassed():
        AuditCheckpoint.objects.all().delete()
        AuditRecord.objects.all().delete()


@pytest.fixture
def rng():
    return random.Random(20261125)


def b64key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def fresh_keys(monkeypatch):
    """A private ephemeral key ring for one test (and the cache emptied around it)."""
    monkeypatch.setenv("GRIDGOV_MASTER_KEYS", f"1:{b64key()}")
    monkeypatch.setenv("GRIDGOV_BLIND_INDEX_KEY", b64key())
    monkeypatch.delenv("GRIDGOV_MASTER_KEY_VERSION", raising=False)
    keys.reset()
    yield monkeypatch
    keys.reset()
