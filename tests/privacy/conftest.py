import base64
import os

import pytest

from gridgov.privacy import keys
from tests.api.conftest import as_user, w  # noqa: F401  (shared fixtures)


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
