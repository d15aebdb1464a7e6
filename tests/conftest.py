import base64
import os

import pytest

# Scans every log record of the suite for full ID and mobile numbers (R17).
pytest_plugins = ["tests.logscan"]

# Ephemeral master and blind-index keys: the suite never reads or creates a key file.
os.environ.setdefault("GRIDGOV_MASTER_KEYS", "1:" + base64.b64encode(os.urandom(32)).decode())
os.environ.setdefault("GRIDGOV_BLIND_INDEX_KEY", base64.b64encode(os.urandom(32)).decode())


@pytest.fixture(autouse=True)
def _test_settings(tmp_path, settings):
    """Uploaded files go to a temporary folder per test; a fast hasher keeps user fixtures cheap."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    # Data keys cached by a test that committed must not outlive the rows it flushed.
    from gridgov.privacy import keys

    keys._cache.clear()


@pytest.fixture(autouse=True)
def _fresh_reference_copies():
    """Each test rolls its rows back, so the catalog version returns to the same number while
    PostgreSQL's sequences do not: a per-process category copy from an earlier test would
    carry ids that no longer exist. Start every test without one."""
    from gridgov.cases import lookups

    lookups._cache = None
    yield
    lookups._cache = None


@pytest.fixture(autouse=True)
def _audit_rows_cleared_after_transactional_tests(request):
    """A test that commits (`django_db(transaction=True)`) is followed by a flush, which the
    audit log's append-only triggers refuse: remove its audit rows first, with the triggers
    out of the way exactly as the audit tests do."""
    marker = request.node.get_closest_marker("django_db")
    committing = (marker is not None and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames
    if not committing:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from django.db import transaction

    from gridgov.privacy.models import AuditCheckpoint, AuditRecord
    from tests.privacy.conftest import triggers_bypassed

    with transaction.atomic(), triggers_bypassed():
        AuditCheckpoint.objects.all().delete()
        AuditRecord.objects.all().delete()


@pytest.fixture(autouse=True)
def _fresh_role_table():
    """Each test reads the role table from its own database state (edits roll back with it)."""
    from gridgov.accounts.permissions import invalidate_role_table

    invalidate_role_table()
    yield
    invalidate_role_table()


@pytest.fixture
def admin_user(db, django_user_model):
    """pytest-django's superuser, as an established account (no forced password change)."""
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "Adm1n-pass-2026", must_change_password=False)


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin client, signed in with the second factor done (superusers need it)."""
    from tests.factories import verified_login

    return verified_login(client, admin_user)
