"""An HTTP client per user of the small world, authenticated with a bearer token."""

import json

import pytest

from gridgov.accounts.services import issue_token
from tests.factories import build_world


class Api:
    """Calls /api/ as one user; `None` as token means anonymous."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params=None):
        return self.client.get(f"/api{path}", params or {}, headers=self.headers)

    def post(self, path: str, body=None):
        """POST a JSON object (or raw bytes/str as given)."""
        data = body if isinstance(body, (bytes, str)) else json.dumps(body or {})
        return self.client.post(f"/api{path}", data, content_type="application/json", headers=self.headers)

    def post_form(self, path: str, data: dict):
        """POST multipart form data (files as lists of uploaded files)."""
        return self.client.post(f"/api{path}", data, headers=self.headers)

    def raw(self, method: str, path: str, data=b"", content_type="application/json"):
        return self.client.generic(method, f"/api{path}", data, content_type=content_type, headers=self.headers)


@pytest.fixture
def w(db):
    return build_world()


@pytest.fixture
def as_user(w, client):
    """as_user("dispatcher") → an Api acting as that user of the world; as_user(None) is anonymous."""
    tokens = {}

    def make(name):
        if name is None:
            return Api(client, None)
        if name not in tokens:
            tokens[name] = issue_token(actor=None, user=w.users[name], name="test")[1]
        return Api(client, tokens[name])

    return make


def error_of(response, status: int) -> dict:
    """Assert a structured JSON error with this status; return its `error` object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message_zh", "message_en", "details"}
    return body["error"]
