import pytest


@pytest.fixture(autouse=True)
def _test_settings(tmp_path, settings):
    """Uploaded files go to a temporary folder per test; a fast hasher keeps user fixtures cheap."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
