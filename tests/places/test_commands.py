import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import shape

from gridgov.places import geo
from gridgov.places.models import Grid, Region

from .conftest import grid_collection
from .test_divisions import HIERARCHY

ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_import_divisions_command(tmp_path):
    path = tmp_path / "divisions.csv"
    path.write_text(HIERARCHY, encoding="utf-8")
    out = run("import_divisions", str(path), "--code-system", "mca", "--year", "2025", "--root", "350502")
    assert "区划导入完成" in out and "community 3" in out
    assert set(Region.objects.values_list("code_system", "code_year")) == {("mca", 2025)}
    with pytest.raises(CommandError, match="区划文件有错误"):
        bad = tmp_path / "bad.csv"
        bad.write_text("code,name\n12x,坏\n", encoding="utf-8")
        run("import_divisions", str(bad))


@pytest.mark.django_db
def test_import_and_export_grids_commands(territory, tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(grid_collection(), ensure_ascii=False), encoding="utf-8")
    assert "新增 7" in run("import_grids", str(path))
    out = tmp_path / "out.geojson"
    run("export_grids", "--out", str(out), "--region", "350502001002")
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == 3
    assert len(json.loads(run("export_grids"))["features"]) == 9
    with pytest.raises(CommandError, match="区划"):
        run("export_grids", "--region", "350999")
    with pytest.raises(CommandError, match="无法写入"):
        run("export_grids", "--out", str(tmp_path / "no" / "such" / "dir.json"))


@pytest.mark.django_db
def test_import_grids_command_lists_the_offending_grids(territory, tmp_path):
    data = grid_collection()
    data["features"][1]["properties"]["households"] = -1
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommandError) as err:
        run("import_grids", str(path))
    assert "350502001001002" in str(err.value) and "户数" in str(err.value)
    assert Grid.objects.count() == 0


@pytest.mark.django_db
def test_locate_command_prints_json(grids):
    p = shape(Grid.objects.get(code="350502001002001").geometry).representative_point()
    lat, lon = geo.wgs84_to_gcj02(p.y, p.x)
    result = json.loads(run("locate", "--lat", str(lat), "--lon", str(lon), "--crs", "gcj02"))
    assert result["found"] and result["grid_code"] == "350502001002001" and result["grid_name"] == "第1网格"
    assert result["names"] == ["泉州市", "鲤城区", "海滨街道", "笋浯社区", "第1网格"]
    assert result["levels"]["street"] == "海滨街道"
    outside = json.loads(run("locate", "--lat", "39.9", "--lon", "116.4"))
    assert outside["found"] is False and outside["reason"] == "outside_grids"


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [(["--lat", "95", "--lon", "118"], "超出范围"),
                                          (["--lat", "x", "--lon", "118"], "数字"),
                                          (["--lat", "24.9", "--lon", "118.5", "--crs", "utm"], "坐标系")])
def test_locate_command_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("locate", *args)


@pytest.mark.parametrize("argv,message", [
    (["locate", "--lat", "95", "--lon", "118"], "坐标超出范围"),
    (["import-grids", "/no/such/file.geojson"], "无法打开文件"),
    (["import-divisions", "/no/such/file.csv"], "无法打开文件"),
    (["locate", "--lat", "24.9"], "--lon"),
])
def test_cli_exits_non_zero_with_a_message_and_no_traceback(argv, message, tmp_path):
    gridgov = Path(sys.executable).parent / "gridgov"
    env = {**os.environ, "GRIDGOV_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run([str(gridgov), *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
