from tests.api.conftest import as_user, error_of, w  # noqa: F401  (the API's fixtures, reused)
