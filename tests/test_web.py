import pytest

from tests.factories import build_world, verified_login

pytestmark = pytest.mark.django_db


def test_home_anonymous(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "网格化服务管理平台" in response.content.decode()
    assert "辖区案件" not in response.content.decode()


def test_home_counts_are_scoped(client):
    from gridgov.cases import services as cs

    w = build_world()
    cs.report_case(actor=w.users["worker_other"], channel="patrol", title="其他街道的案件", grid=w.grids[3])
    verified_login(client, w.users["dispatcher"])  # 海滨街道: sees none of 临江's cases
    body = client.get("/").content.decode()
    assert "辖区案件" in body and "<b>1</b>" not in body
    verified_login(client, w.users["dispatcher2"])
    assert "<b>1</b>" in client.get("/").content.decode()
