"""Categories and the responsibility matrix as data: seed, import, export, gaps, suggestions."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridgov.cases import catalog
from gridgov.cases.models import Category, Department, ResponsibilityRule
from gridgov.cases.routing import matrix_gaps, suggest_department
from gridgov.errors import InvalidInput
from gridgov.places.models import RegionLevel
from tests.factories import build_world

pytestmark = pytest.mark.django_db
TAXONOMY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "messages" / "taxonomy.csv"


def test_seed_cjt214_is_idempotent_and_complete():
    first = catalog.seed_standard_categories()
    assert first["created"] > 40
    assert catalog.seed_standard_categories() == {"created": 0, "updated": first["created"]}
    tops = set(Category.objects.filter(parent=None, kind="event").values_list("name", flat=True))
    assert {"市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件"} <= tops
    assert Category.objects.get(code="P0101").kind == "component"
    litter = Category.objects.get(name="暴露垃圾")
    assert litter.parent.name == "市容环境" and litter.depth == 2 and litter.self_resolvable


def test_export_then_import_round_trips():
    catalog.seed_standard_categories()
    Category.objects.filter(code="E0102").update(normal_limit=7)
    text = catalog.export_categories()
    Category.objects.filter(code="E0102").update(normal_limit=1)
    catalog.import_categories(io.StringIO(text))
    assert Category.objects.get(code="E0102").normal_limit == 7
    assert catalog.export_categories() == text


@pytest.mark.parametrize(
    "csv_text",
    [
        "code,name\nX1,缺列\n",
        "code,name,parent_code\nX1,孤儿,NOPE\n",
        "code,name,parent_code,verification_required\nX1,坏布尔,,maybe\n",
        "code,name,parent_code,normal_limit\nX1,坏数字,,-3\n",
        "code,name,parent_code,kind\nX1,坏类型,,thing\n",
        "code,name,parent_code\nX1,好的,\n,没有编码,\n",
    ],
)
def test_bad_category_files_are_refused_whole(csv_text):
    with pytest.raises(InvalidInput):
        catalog.import_categories(io.StringIO(csv_text))
    assert not Category.objects.filter(code="X1").exists()


def test_taxonomy_import_assigns_codes_and_is_idempotent():
    text = "一级分类,二级分类,三级分类\n城乡建设,安全生产,事故处理\n城乡建设,安全生产,安全隐患\n城乡建设,住房保障,\n环境保护,噪声污染,工地噪声\n"
    assert catalog.import_taxonomy(io.StringIO(text)) == {"created": 8}
    assert Category.objects.get(code="H01").name == "城乡建设"
    assert Category.objects.get(code="H0101").name == "安全生产"
    assert Category.objects.get(code="H010102").name == "安全隐患"
    assert Category.objects.get(code="H0201").parent.name == "环境保护"
    assert catalog.import_taxonomy(io.StringIO(text)) == {"created": 0}
    more = text + "城乡建设,安全生产,新增三级\n"
    assert catalog.import_taxonomy(io.StringIO(more)) == {"created": 1}
    assert Category.objects.get(code="H010103").name == "新增三级"
    with pytest.raises(InvalidInput):
        catalog.import_taxonomy(io.StringIO("a,b,c\n1,2,3\n"))


@pytest.mark.skipif(not TAXONOMY.exists(), reason="../shared/data is not beside this checkout")
def test_real_12345_taxonomy_loads():
    result = catalog.import_taxonomy(TAXONOMY)
    firsts = Category.objects.filter(parent=None, code__startswith="H")
    assert firsts.count() == 15
    assert set(firsts.values_list("name", flat=True)) >= {"城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"}
    assert result["created"] > 517  # 517 leaves plus their parents


def test_matrix_import_export_and_gaps():
    w = build_world()
    assert {"category": "02", "name": "道路破损", "level": "street"} in matrix_gaps()
    text = "category_code,level,region_code,department_name,department_code,note\n02,street,,综合执法队,,道路\n02,district,,城管局,,\n02,community,350502001001,物业办,,限金山社区\n"
    assert catalog.import_matrix(io.StringIO(text))["created"] == 3
    gaps = matrix_gaps()
    assert not [g for g in gaps if g["category"] == "02"]
    assert [g for g in gaps if g["category"] == "0101" and g["level"] == "community"]
    exported = catalog.export_matrix()
    assert "02,community,350502001001,物业办" in exported
    ResponsibilityRule.objects.all().delete()
    catalog.import_matrix(io.StringIO(exported))
    assert catalog.export_matrix() == exported
    assert suggest_department(category=w.cats["road"], case_region=w.community, level=RegionLevel.COMMUNITY).department == w.depts["wy"]
    assert suggest_department(category=w.cats["road"], case_region=w.community2, level=RegionLevel.COMMUNITY).department is None


@pytest.mark.parametrize(
    "bad_row",
    [
        "NOPE,street,,综合执法队,",
        "02,galaxy,,综合执法队,",
        "02,street,999,综合执法队,",
        "02,street,,,NOPE",
        "02,street,,,",
    ],
)
def test_bad_matrix_files_are_refused_whole(bad_row):
    build_world()
    before = ResponsibilityRule.objects.count()
    # A good row first: the bad one must roll it back.
    text = "category_code,level,region_code,department_name,department_code\n0101,community,,物业办,\n" + bad_row + "\n"
    with pytest.raises(InvalidInput):
        catalog.import_matrix(io.StringIO(text))
    assert ResponsibilityRule.objects.count() == before
    with pytest.raises(InvalidInput):
        catalog.import_matrix(io.StringIO("category_code,level\n02,street\n"))


def test_suggestion_prefers_specific_category_and_region():
    w = build_world()
    # The generic rule for 市容环境 at street level names 综合执法队; a rule for the 小类 wins.
    ResponsibilityRule.objects.create(category=w.cats["litter"], level=RegionLevel.STREET, department=w.depts["zf"], note="direct")
    s = suggest_department(category=w.cats["litter"], case_region=w.community, level=RegionLevel.STREET)
    assert s.department == w.depts["zf"] and s.rule.note == "direct"
    s = suggest_department(category=w.cats["ad"], case_region=w.other_community, level=RegionLevel.STREET)
    assert s.department == w.depts["zf2"]  # matched by name among the other street's departments
    Department.objects.filter(pk=w.depts["zf2"].pk).update(active=False)
    assert suggest_department(category=w.cats["ad"], case_region=w.other_community, level=RegionLevel.STREET).department is None
    assert suggest_department(category=None, case_region=w.community, level=RegionLevel.STREET).source == "none"


def test_commands(tmp_path, capsys):
    call_command("seed_categories")
    out = tmp_path / "cats.csv"
    call_command("export_categories", out=str(out))
    assert out.read_text(encoding="utf-8").startswith("code,name,parent_code")
    call_command("import_categories", str(out))
    with pytest.raises(CommandError, match="文件不存在"):
        call_command("import_categories", str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,parent_code\nX,Y,NOPE\n", encoding="utf-8")
    with pytest.raises(CommandError, match="上级分类不存在"):
        call_command("import_categories", str(bad))
    call_command("matrix_gaps")
    assert "gaps" in capsys.readouterr().err


def test_export_to_an_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="无法写入"):
        call_command("export_categories", out=str(tmp_path / "no-such-dir" / "cats.csv"))
    with pytest.raises(CommandError, match="无法写入"):
        call_command("export_matrix", out=str(tmp_path / "no-such-dir" / "matrix.csv"))
