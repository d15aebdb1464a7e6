"""Case categories for the demo city: the CJ/T 214 event and component classes shipped
with the cases app (``gridgov.cases.catalog``), plus a curated part of the 12345 hotline
taxonomy (seven first-level categories with a few second-level ones each).

The 12345 codes are the ones ``catalog.import_taxonomy`` assigns when it reads the full
national taxonomy (prefix ``H``, two digits a level, in the file's order), so importing
the full taxonomy later reuses these rows by name instead of duplicating them.
"""

from __future__ import annotations

from django.db import transaction

from gridgov.cases.choices import CaseType, LimitUnit
from gridgov.cases.models import Category

HOTLINE_SOURCE = "12345"

# (code, name, normal limit in working days, urgent limit in hours), children below.
HOTLINE = [
    (("H01", "城乡建设", 5, 24), [
        ("H0101", "安全生产", 2, 4), ("H0102", "城市建设和市政管理", 5, 24), ("H0110", "住房保障与房地产", 10, 48),
    ]),
    (("H15", "劳动和社会保障", 5, 24), [
        ("H1506", "劳动关系", 10, 48), ("H1503", "工资福利", 5, 24), ("H1502", "城镇职工社会保险", 10, 48),
    ]),
    (("H14", "教育文体", 5, 24), [
        ("H1403", "教育收费", 5, 24), ("H1402", "教育行政管理", 5, 24), ("H1409", "文化", 5, 24),
    ]),
    (("H11", "商贸旅游", 5, 24), [("H1104", "市场监管", 5, 24), ("H1101", "旅游管理", 3, 12)]),
    (("H04", "环境保护", 3, 12), [("H0402", "环境污染", 3, 12), ("H0401", "环保管理", 5, 24)]),
    (("H12", "卫生计生", 5, 24), [
        ("H1206", "医政监管", 5, 24), ("H1204", "食品药品监管", 3, 12), ("H1201", "公共卫生", 2, 8),
    ]),
    (("H06", "交通运输", 5, 24), [("H0601", "出租车管理", 5, 24), ("H0604", "客货运输", 5, 24)]),
]


def _hotline_defaults(name: str, limit: int, urgent: int, parent: Category | None) -> dict:
    return {
        "name": name, "parent": parent, "kind": "event", "source": HOTLINE_SOURCE,
        "case_type": CaseType.PROMISED, "normal_limit": limit, "normal_limit_unit": LimitUnit.WORKING_DAYS,
        "urgent_limit_hours": urgent,
        # Hotline cases are confirmed by calling the citizen back, not by a site visit.
        "verification_required": False, "self_resolvable": False, "escalate_when_overdue": True,
    }


@transaction.atomic
def seed_categories() -> dict:
    """Seed the demo's categories; idempotent, and rows that exist are left as they are
    (an administrator's edits survive a second run)."""
    from gridgov.cases import catalog

    before = Category.objects.count()
    if not Category.objects.filter(source__startswith="CJ/T 214").exists():
        catalog.seed_standard_categories()
    for (code, name, limit, urgent), children in HOTLINE:
        parent, _ = Category.objects.get_or_create(code=code, defaults=_hotline_defaults(name, limit, urgent, None))
        for child_code, child_name, child_limit, child_urgent in children:
            Category.objects.get_or_create(code=child_code, defaults=_hotline_defaults(child_name, child_limit, child_urgent, parent))
    return {"created": Category.objects.count() - before, "total": Category.objects.count()}


def leaf_categories() -> list[Category]:
    """Active categories without children: the ones cases are filed under."""
    return [c for c in Category.objects.filter(active=True).prefetch_related("children").order_by("code") if not c.children.all()]
