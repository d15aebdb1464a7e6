"""The key service: master keys from the environment or a key file, per-subject data keys,
the cache, crypto-shredding, rotation."""

import base64
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.privacy import keys
from gridgov.privacy.models import SubjectKey

from .conftest import b64key

pytestmark = pytest.mark.django_db


def test_environment_keys_and_versions(fresh_keys):
    fresh_keys.setenv("GRIDGOV_MASTER_KEYS", f"1:{b64key()},3:{b64key()}")
    keys.reset()
    assert keys.ring().current == 3 and set(keys.ring().master) == {1, 3} and keys.ring().source == "environment"
    fresh_keys.setenv("GRIDGOV_MASTER_KEY_VERSION", "1")
    keys.reset()
    assert keys.ring().current == 1


@pytest.mark.parametrize("value, message", [
    ("1:notbase64!!", "base64"),
    ("1:" + "QUFB", "32 bytes"),
    ("one:" + "QUFB", "look like"),
])
def test_bad_environment_keys_are_refused(fresh_keys, value, message):
    fresh_keys.setenv("GRIDGOV_MASTER_KEYS", value)
    keys.reset()
    with pytest.raises(ImproperlyConfigured, match=message):
        keys.ring()


def test_missing_blind_index_key_is_refused(fresh_keys):
    fresh_keys.delenv("GRIDGOV_BLIND_INDEX_KEY")
    keys.reset()
    with pytest.raises(ImproperlyConfigured, match="BLIND_INDEX"):
        keys.ring()


def test_key_file_created_private_and_never_in_the_source_tree(fresh_keys, tmp_path, settings):
    fresh_keys.delenv("GRIDGOV_MASTER_KEYS")
    settings.VAR_DIR = tmp_path
    settings.GRIDGOV_PRIVACY = {"KEY_FILE": str(tmp_path / "k" / "keys.json")}
    path, created = keys.ensure_key_file()
    assert created and path.stat().st_mode & 0o777 == 0o600
    assert keys.ensure_key_file() == (path, False)
    keys.reset()
    assert keys.ring().source == str(path) and keys.ring().current == 1
    data = json.loads(path.read_text())
    assert set(data) == {"format", "current", "master_keys", "blind_index_key"}
    # A key file inside the repository (outside var/) could be committed: refused.
    settings.GRIDGOV_PRIVACY = {"KEY_FILE": str(settings.BASE_DIR / "gridgov" / "keys.json")}
    keys.reset()
    with pytest.raises(ImproperlyConfigured, match="source tree"):
        keys.ring()
    # Outside DEBUG a missing file is an error, never silently created.
    settings.DEBUG = False
    settings.GRIDGOV_PRIVACY = {"KEY_FILE": str(tmp_path / "absent.json")}
    keys.reset()
    with pytest.raises(ImproperlyConfigured, match="No master keys"):
        keys.ring()
    assert not (tmp_path / "absent.json").exists()


def test_subject_keys_one_query_then_cached(fresh_keys, django_capture_on_commit_callbacks):
    with CaptureQueriesContext(connection) as first, django_capture_on_commit_callbacks(execute=True):
        key_id, _dk = keys.subject_key("tel:abc")
    assert len(first.captured_queries) == 1  # one upsert
    with CaptureQueriesContext(connection) as again:
        assert keys.subject_key("tel:abc")[0] == key_id
    assert len(again.captured_queries) == 0
    # Another process (an empty cache) gets the same stored key back, in one query.
    keys._cache.clear()
    with CaptureQueriesContext(connection) as other, django_capture_on_commit_callbacks(execute=True):
        key_id2, dk2 = keys.subject_key("tel:abc")
    assert key_id2 == key_id and bytes(dk2.raw) == bytes(keys.data_key(key_id).raw)
    assert len(other.captured_queries) == 1
    assert SubjectKey.objects.filter(subject="tel:abc").count() == 1
    row = SubjectKey.objects.get(pk=key_id)
    assert bytes(dk2.raw) not in bytes(row.wrapped)  # stored wrapped, never raw


def test_destroy_shreds_and_frees_the_subject(fresh_keys):
    key_id, _ = keys.subject_key("tel:shred")
    assert keys.destroy([key_id]) == 1
    row = SubjectKey.objects.get(pk=key_id)
    assert row.wrapped is None and row.destroyed_at is not None and row.subject == f"shredded:{key_id}"
    with pytest.raises(keys.KeyDestroyed):
        keys.data_key(key_id)
    assert keys.subject_key("tel:shred")[0] != key_id  # the person, if they come back, gets a new key


def test_rewrap_under_a_new_master_version(fresh_keys):
    old = b64key()
    fresh_keys.setenv("GRIDGOV_MASTER_KEYS", f"1:{old}")
    keys.reset()
    key_id, dk = keys.subject_key("tel:rotate")
    raw = bytes(dk.raw)
    fresh_keys.setenv("GRIDGOV_MASTER_KEYS", f"1:{old},2:{b64key()}")
    keys.reset()
    assert keys.rewrap_all() == 1
    assert SubjectKey.objects.get(pk=key_id).master_version == 2
    # Version 1 can now be retired: the data key still opens with version 2 alone.
    fresh_keys.setenv("GRIDGOV_MASTER_KEYS", f"2:{base64.b64encode(keys.ring().master[2]).decode()}")
    keys.reset()
    assert bytes(keys.data_key(key_id).raw) == raw
    assert keys.rewrap_all() == 0




def test_blind_index_is_keyed_and_domain_separated(fresh_keys):
    a = keys.blind_index("phone", "13812345678")
    assert a == keys.blind_index("phone", "13812345678") and len(a) == 32
    assert a != keys.blind_index("id_number", "13812345678")
    fresh_keys.setenv("GRIDGOV_BLIND_INDEX_KEY", b64key())
    keys.reset()
    assert keys.blind_index("phone", "13812345678") != a
    assert keys.blind_index("phone", "") == ""


def test_a_rolled_back_key_is_never_served_from_the_cache(fresh_keys):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        keys.subject_key("tel:rollback")
        raise RuntimeError
    key_id, _ = keys.subject_key("tel:rollback")
    assert SubjectKey.objects.filter(pk=key_id, subject="tel:rollback").exists()


def test_cache_is_bounded(fresh_keys, settings, django_capture_on_commit_callbacks):
    settings.GRIDGOV_PRIVACY = {"CACHE_SIZE": 3}
    with django_capture_on_commit_callbacks(execute=True):
        ids = [keys.subject_key(f"row:{i}")[0] for i in range(5)]
    assert len(keys._cache.by_id) == 3 and list(keys._cache.by_id) == ids[2:]
