"""R14/R17/F12: no password, token, full ID number or full mobile number in an audit record."""

import re

import pytest

from gridgov.privacy import chain
from gridgov.privacy.models import AuditRecord
from gridgov.privacy.scrub import REDACTED, id_checksum_ok, scrub, scrub_text
from gridgov.privacy.services import audit
from tests.api.conftest import Api
from tests.factories import build_world

ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def sensitive_hits(text: str) -> list[str]:
    return [m for m in ID_RE.findall(text) if id_checksum_ok(m)] + MOBILE_RE.findall(text)


def test_checksum_vectors():
    for good in ("11010519491231002X", "440524188001010014", "360426199101010071", "11010519491231002x"):
        assert id_checksum_ok(good)
    for bad in ("110105194912310021", "11010519491231002", "1101051949123100XX"):
        assert not id_checksum_ok(bad)


@pytest.mark.parametrize(("text", "expected"), [
    ("身份证11010519491231002X已核实", "身份证110105********002X已核实"),
    ("id 440524188001010014.", "id 440524********0014."),
    ("not an id 110105194912310021", "not an id 110105194912310021"),  # bad check digit: an ordinary number
    ("order 4405241880010100149", "order 4405241880010100149"),  # 19 digits: not an ID
    ("call 13812345678 now", "call 138****5678 now"),
    ("+8613812345678", "138****5678"),
    ("0086 138-1234-5678", "138****5678"),
    ("tel 12012345678", "tel 12012345678"),  # not a mobile segment
    ("Authorization: Bearer abcdefghijklmnop", f"Authorization: {REDACTED}"),
    ("token ggv_AbCdEfGh12345678", f"token {REDACTED}"),
    ("nul\x00byte", "nulbyte"),
])
def test_scrub_text(text, expected):
    assert scrub_text(text) == expected


def test_scrub_structures():
    value = {
        "password": "hunter2", "new_password1": "x", "api_token": "abc", "Cookie": "sessionid=1", "otp": "123456",  # pragma: allowlist secret
        "people": [{"phone": 13812345678, "id": "11010519491231002X"}], "count": 12, "ratio": 1.0, "nan": float("nan"),
        "empty_password": "",
    }
    out = scrub(value)
    assert out["password"] == out["new_password1"] == out["api_token"] == out["Cookie"] == out["otp"] == REDACTED
    assert out["people"] == [{"phone": "138****5678", "id": "110105********002X"}]
    assert out["count"] == 12 and out["ratio"] == 1 and out["nan"] == "nan" and out["empty_password"] == ""


@pytest.mark.django_db
def test_audit_stores_only_the_scrubbed_payload():
    record = audit(actor=None, action="person.update", object_type="registry.person", object_id="11010519491231002X",
                   data={"password": "p@ss", "note": "居民 13812345678"},  # pragma: allowlist secret
                   before={"phone": "13912345678"}, after={"phone": "13812345678"})
    stored = AuditRecord.objects.get(pk=record.pk)
    assert stored.object_id == "110105********002X"
    assert stored.data == {"password": REDACTED, "note": "居民 138****5678",
                           "before": {"phone": "139****5678"}, "after": {"phone": "138****5678"}}
    assert stored.fields == ["phone"]
    assert chain.verify().ok


@pytest.mark.django_db
def test_f12_no_sensitive_payload_after_a_flow(client):
    w = build_world()
    from gridgov.accounts.services import issue_token

    api = Api(client, issue_token(actor=None, user=w.users["worker"], name="t")[1])
    response = api.post("/cases", {"channel": "patrol", "title": "噪音扰民 13812345678", "lat": 24.905, "lon": 118.505,
                                   "reporter_name": "张三", "reporter_phone": "13812345678",
                                   "description": "举报人身份证 11010519491231002X"})
    assert response.status_code == 201, response.content
    audit(actor=None, action="test.raw", object_type="t", object_id="1",
          data={"headers": {"Authorization": "Bearer ggv_secretsecretsecret"}, "id": "440524188001010014"})
    rows = list(AuditRecord.objects.values_list("object_id", "action", "data", "user_agent", "actor_name"))
    text = repr(rows)
    assert rows and sensitive_hits(text) == [] and "ggv_secret" not in text
