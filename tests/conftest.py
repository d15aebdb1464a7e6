import pytest


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    """Uploaded files go to a temporary folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
