"""Shared by the places services: the index version, division-code arithmetic, refusals."""

from __future__ import annotations

from gridgov.errors import InvalidInput

from ..models import RegionLevel

MAX_ERRORS = 50  # errors listed in one refusal

# Tolerances of the grid checks, in square metres: an overlap or an overhang is an error
# only above both the absolute and the relative (share of the smaller polygon) threshold.
OVERLAP_TOLERANCE_M2, OVERLAP_TOLERANCE_SHARE = 1.0, 1e-4
OUTSIDE_TOLERANCE_M2, OUTSIDE_TOLERANCE_SHARE = 1.0, 0.01


# ---- the spatial index version ----------------------------------------------------------


def bump_index_version() -> int:
    """Tell every process that grids changed: their locate index is rebuilt on next use."""
    from .. import versions

    return versions.bump("version")


# ---- division codes ---------------------------------------------------------------------


def normalise_code(raw) -> str:
    """A division code in its stored form: 6 digits (GB/T 2260) for province, city and
    district, 9 for a street, 12 for a community. Short and padded forms are accepted:
    "35" and "350000000000" → "350000", "3505" → "350500", "350582000000" → "350582",
    "350582101000" → "350582101". ValueError if it is not a division code."""
    code = str(raw if raw is not None else "").strip()
    if not (code.isdigit() and code.isascii()):
        raise ValueError(f"区划代码必须是数字：{code!r}")
    if len(code) in (2, 4):
        code = code.ljust(6, "0")
    if len(code) == 12 and code.endswith("000"):
        code = code[:9]
    if len(code) == 9 and code.endswith("000"):
        code = code[:6]
    if len(code) not in (6, 9, 12) or code.startswith("00"):
        raise ValueError(f"区划代码长度不对：{raw!r}（应为 2、4、6、9 或 12 位）")
    return code


def level_of(code: str) -> str:
    """The level of a normalised code."""
    if len(code) == 12:
        return RegionLevel.COMMUNITY
    if len(code) == 9:
        return RegionLevel.STREET
    if code.endswith("0000"):
        return RegionLevel.PROVINCE
    return RegionLevel.CITY if code.endswith("00") else RegionLevel.DISTRICT


def significant_prefix(code: str) -> str:
    """The digits that every code below this one starts with ("350500" → "3505")."""
    return {RegionLevel.PROVINCE: code[:2], RegionLevel.CITY: code[:4]}.get(level_of(code), code)


def parent_code(code: str) -> str | None:
    """The code directly above by prefix, None for a province."""
    level = level_of(code)
    if level == RegionLevel.COMMUNITY:
        return normalise_code(code[:9])  # a placeholder street (…000) is its district
    if level == RegionLevel.STREET:
        return code[:6]
    if level == RegionLevel.DISTRICT:
        return code[:4] + "00"
    return code[:2] + "0000" if level == RegionLevel.CITY else None


# Hierarchy layout: one row per leaf with a (code, name) column pair per level.
HIERARCHY_COLUMNS = [
    ("province_code", "province_name"), ("city_code", "city_name"), ("county_code", "county_name"),
    ("district_code", "district_name"), ("township_code", "township_name"), ("street_code", "street_name"),
    ("village_code", "village_name"), ("community_code", "community_name"),
]
# Flat layout: code,name plus optional columns naming a parent (checked against the prefix).
PARENT_COLUMNS = ["parent_code", "parentcode", "streetcode", "areacode", "citycode", "provincecode"]


def _refuse(what_zh: str, what_en: str, errors: list[dict], code: str):
    shown = "；".join(
        (f"第 {e['line']} 行" if "line" in e else "") + (f"（{e['code']}）" if e.get("code") else "")
        + (f"网格 {e['grid']}：" if e.get("grid") else "") + e["problem"]
        for e in errors[:5]
    )
    more = f"，另有 {len(errors) - 5} 处" if len(errors) > 5 else ""
    raise InvalidInput(f"{what_zh}，未写入任何数据：{shown}{more}", f"{what_en}; nothing was written", code=code,
                       details={"errors": errors[:MAX_ERRORS]})


def _in_chunks(values, size=2000):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]
