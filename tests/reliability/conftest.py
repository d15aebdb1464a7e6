import pytest

from tests.api.conftest import as_user, w  # noqa: F401  (the API's per-user clients and small world)


@pytest.fixture(autouse=True)
def _fresh_category_cache():
    """Forget the per-process category copy before each test.

    Workaround, not a fix: `gridgov.cases.lookups` keys its copy on `catalog_version` alone.
    Each test's rolled-back transaction brings the version back to the same number while
    PostgreSQL's sequences move on, so the next test's categories have new ids under the old
    version and the stale copy breaks the foreign key (main's own suite fails this way on
    PostgreSQL). Reported to the owner of the cache."""
    from gridgov.cases import lookups

    lookups._cache = None
    yield
    lookups._cache = None
