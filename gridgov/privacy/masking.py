"""Masking (脱敏) applied when personal data is serialised for someone who may not see it
in full. Defaults follow SECURITY.md §2.2 and are settings (GRIDGOV_PRIVACY["MASK"]):

  ID number  110***********002X   first 3 + 11 * + last 4: the birth date (7–14) never shows
  mobile     138****5678          digits 4–7 never show
  name       张*, 欧阳**           surname kept, length kept
  address    金山路金山小区***     down to the residential compound (小区)
"""

import re

from .keys import privacy_setting
from .validators import nfkc

COMPOUND_SURNAMES = frozenset(
    ["欧阳", "太史", "端木", "上官", "司马", "东方", "独孤", "南宫", "万俟", "闻人", "夏侯", "诸葛", "尉迟", "公羊", "赫连", "澹台", "皇甫", "宗政", "濮阳", "公冶", "太叔", "申屠", "公孙", "慕容", "仲孙", "钟离", "长孙", "宇文", "司徒", "鲜于", "司空", "闾丘", "子车", "亓官", "司寇", "巫马", "公西", "颛孙", "壤驷", "公良", "漆雕", "乐正", "宰父", "谷梁", "拓跋", "夹谷", "轩辕", "令狐", "段干", "百里", "呼延", "东郭", "南门", "羊舌", "微生", "公户", "公玉", "公仪", "梁丘", "公仲", "公上", "公门", "公山", "公坚", "左丘", "公伯", "西门", "公祖", "第五", "公乘", "贯丘", "公皙", "南荣", "东里", "东宫", "仲长", "子书", "子桑", "即墨", "达奚", "褚师"]
)
# A building, unit, floor or room inside a compound: what the mask removes.
_BUILDING = re.compile(r"(\d+|[一二三四五六七八九十百]+)\s*(号楼|栋|幢|座|单元|层|楼|室)|[A-Za-z]\s*(座|栋)")
_COMPOUND_END = re.compile(r"(小区|花园|公寓|家园|新村|大厦|苑|园|村|里|院|府|城|湾|庭)")


def _stars(n: int) -> str:
    return "*" * max(n, 0)


def mask_id_number(value: str) -> str:
    """110***********002X for 18 characters; a 15-digit legacy number keeps 3 + last 3."""
    text = nfkc(value)
    if not text:
        return ""
    keep_head, keep_tail = privacy_setting_mask("ID_KEEP")
    if len(text) == 18:
        return text[:keep_head] + _stars(18 - keep_head - keep_tail) + text[-keep_tail:]
    if len(text) == 15:  # birth date is digits 7–12 there; keep the sequence's last 3 only
        return text[:keep_head] + _stars(12 - keep_head) + text[-3:]
    return text[:1] + _stars(len(text) - 1)


def mask_phone(value: str) -> str:
    """138****5678: the first three and the last four digits stay (shorter ones keep one)."""
    text = nfkc(value)
    if not text:
        return ""
    if len(text) >= 8:
        return text[:3] + _stars(len(text) - 7) + text[-4:]
    return text[:1] + _stars(len(text) - 1)


def mask_name(value: str) -> str:
    """张* / 欧阳**: the surname stays, each other character becomes *; Latin names keep the
    first letter of each word."""
    text = nfkc(value)
    if not text:
        return ""
    if text.isascii():
        return " ".join(w[:1] + _stars(len(w) - 1) for w in text.split())
    surname = 2 if len(text) > 2 and text[:2] in COMPOUND_SURNAMES else 1
    return text[:surname] + _stars(len(text) - surname)


def mask_address(value: str) -> str:
    """Keep the address down to the residential compound; the building, unit and room go."""
    text = nfkc(value)
    if not text:
        return ""
    compound = None
    for compound in _COMPOUND_END.finditer(text):
        pass
    if compound is not None:
        return text if compound.end() == len(text) else text[:compound.end()] + "***"
    building = _BUILDING.search(text)
    return text[:building.start()].rstrip() + "***" if building else text


def privacy_setting_mask(name: str):
    return {"ID_KEEP": (3, 4), **(privacy_setting("MASK") or {})}[name]


MASKERS = {
    "id_number": mask_id_number, "phone": mask_phone, "name": mask_name, "address": mask_address,
    "text": lambda v: _stars(len(v)) if v else "",
}


def mask(kind: str, value: str) -> str:
    return MASKERS[kind](value or "")
