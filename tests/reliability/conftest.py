from tests.api.conftest import as_user, w  # noqa: F401  (the API's per-user clients and small world)
