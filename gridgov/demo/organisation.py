"""Who acts where: the departments at each level of the demo city and the responsibility
matrix (权责清单) that routes every demo category to one of them at the district, street
and community level."""

from __future__ import annotations

import numpy as np
from django.db import transaction

from gridgov.cases.models import Category, Department, ResponsibilityRule
from gridgov.places.models import Region, RegionLevel

from . import bulk
from .sources import is_village

# (abbreviation, name) of the functional departments of a district/county.
DISTRICT_DEPARTMENTS = [
    ("CGJ", "城管局"), ("ZJJ", "住建局"), ("STHJ", "生态环境局"), ("SCJG", "市场监管局"), ("GA", "公安分局"),
    ("JTYS", "交通运输局"), ("WJJ", "卫健局"), ("RSJ", "人社局"), ("JYJ", "教育局"), ("MZJ", "民政局"),
    ("SLJ", "水利局"), ("YJJ", "应急管理局"), ("WTL", "文体旅游局"), ("SFJ", "司法局"),
]
STREET_DEPARTMENTS = [
    ("ZFD", "综合执法队"), ("ZZZX", "综治中心"), ("SWB", "社会事务办"), ("GJB", "规划建设办"),
    ("JFB", "经济发展办"), ("YJB", "应急管理办"), ("PCS", "派出所"), ("SJS", "市场监管所"),
]
COMMUNITY_DEPARTMENTS = [("WYB", "物业办"), ("JWH", "居委会")]
VILLAGE_DEPARTMENTS = [("CWH", "村委会")]

# Each level's entry lists department names in order: the first one that exists in the
# case's region at that level takes the case (物业办 in a 社区, 村委会 in a 村…).
CITY_MANAGEMENT = {
    RegionLevel.DISTRICT: ["城管局"], RegionLevel.STREET: ["综合执法队"], RegionLevel.COMMUNITY: ["物业办", "村委会"],
}


def _rule(district, street, community=("居委会", "村委会")):
    return {RegionLevel.DISTRICT: list(district), RegionLevel.STREET: list(street), RegionLevel.COMMUNITY: list(community)}


POLICE = ("公安分局", "公安局")
MATRIX = {
    "E01": CITY_MANAGEMENT,
    "E0105": _rule(["水利局"], ["规划建设办"]),
    "E0109": _rule(["生态环境局"], ["综合执法队"], ["物业办", "村委会"]),
    "E02": CITY_MANAGEMENT,
    "E03": _rule(["住建局"], ["规划建设办"], ["物业办", "村委会"]),
    "E0302": _rule(["生态环境局"], ["规划建设办"], ["物业办", "村委会"]),
    "E04": _rule(["应急管理局"], ["应急管理办"]),
    "E0402": _rule(["水利局"], ["规划建设办"]),
    "E05": CITY_MANAGEMENT,
    "E0504": _rule(POLICE, ["派出所"], ["物业办", "村委会"]),
    "E0506": _rule(["民政局"], ["社会事务办"]),
    "E06": _rule(["城管局"], ["综治中心"]),
    "E0601": _rule(["司法局"], ["综治中心"]),
    "E0602": _rule(["生态环境局"], ["综合执法队"], ["物业办", "村委会"]),
    "E0603": _rule(["民政局"], ["社会事务办"]),
    "P01": _rule(["城管局"], ["规划建设办"], ["物业办", "村委会"]),
    "P0103": _rule(["应急管理局"], ["应急管理办"], ["物业办", "村委会"]),
    "P02": _rule(["交通运输局"], ["规划建设办"], ["物业办", "村委会"]),
    "P0202": _rule(POLICE, ["派出所"], ["物业办", "村委会"]),
    "P03": _rule(["城管局"], ["规划建设办"], ["物业办", "村委会"]),
    "H01": _rule(["住建局"], ["规划建设办"], ["物业办", "村委会"]),
    "H0101": _rule(["应急管理局"], ["应急管理办"]),
    "H0102": CITY_MANAGEMENT,
    "H15": _rule(["人社局"], ["社会事务办"]),
    "H14": _rule(["教育局"], ["社会事务办"]),
    "H1409": _rule(["文体旅游局"], ["社会事务办"]),
    "H11": _rule(["市场监管局"], ["市场监管所"]),
    "H1101": _rule(["文体旅游局"], ["经济发展办"]),
    "H04": _rule(["生态环境局"], ["综合执法队"]),
    "H12": _rule(["卫健局"], ["社会事务办"]),
    "H1204": _rule(["市场监管局"], ["市场监管所"]),
    "H06": _rule(["交通运输局"], ["综合执法队"]),
}


def _phone(rng) -> str:
    return f"0595-{int(rng.integers(2200_0000, 2899_9999))}"


def district_departments(district: Region) -> list[tuple[str, str]]:
    """A 区 has a 公安分局, a county or county-level city a 公安局."""
    police = "公安分局" if district.name.endswith("区") else "公安局"
    return [(abbr, police if abbr == "GA" else name) for abbr, name in DISTRICT_DEPARTMENTS]


@transaction.atomic
def seed_departments(seed: int = 2026) -> int:
    """Departments at every district, street and community of the tree. Returns the count."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    levels = [RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY]
    for region in Region.objects.filter(level__in=levels).defer("geometry").order_by("path"):
        if region.level == RegionLevel.DISTRICT:
            names = district_departments(region)
        elif region.level == RegionLevel.STREET:
            names = STREET_DEPARTMENTS
        elif is_village(region.name):
            names = VILLAGE_DEPARTMENTS
        else:
            names = COMMUNITY_DEPARTMENTS
        rows += [Department(code=f"{region.code}-{abbr}", name=name, region=region, phone=_phone(rng)) for abbr, name in names]
    bulk.insert(Department, rows, key="code")
    return len(rows)


@transaction.atomic
def seed_matrix() -> int:
    """The responsibility matrix for the demo categories (idempotent). Returns rules written."""
    categories = {c.code: c for c in Category.objects.filter(code__in=MATRIX)}
    created = 0
    for code, levels in MATRIX.items():
        category = categories.get(code)
        if category is None:
            continue
        for level, names in levels.items():
            for name in names:
                _, new = ResponsibilityRule.objects.get_or_create(
                    category=category, level=level, region=None, department_name=name,
                    defaults={"note": "演示数据"},
                )
                created += new
    return created
