"""Dispatch suggestions from the responsibility matrix (权责清单) and its gap list."""

from dataclasses import dataclass

from gridgov.places.models import Region, RegionLevel

from .models import Category, Department, ResponsibilityRule

MATRIX_LEVELS = [RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY]


@dataclass(frozen=True)
class Suggestion:
    department: Department | None
    rule: ResponsibilityRule | None
    source: str  # "matrix" or "none"
    reason: str


def _category_chain(category: Category) -> list[Category]:
    chain, node = [], category
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain


def _region_at_level(region: Region, level: str) -> Region | None:
    if region.level == level:
        return region
    return Region.objects.filter(path__in=region.ancestor_paths(), level=level).defer("geometry").first()


def suggest_department(*, category: Category | None, case_region: Region, level: str) -> Suggestion:
    """The department the matrix names for a category at a level, for a case in a region.

    The most specific rule wins: the category itself before its parents, a rule limited
    to a region before a general one. A rule names a department directly or by name
    among the departments of the case's region at that level.
    """
    if category is None:
        return Suggestion(None, None, "none", "未分类")
    level_region = _region_at_level(case_region, level)
    ancestor_ids = set(Region.objects.filter(path__in=case_region.ancestor_paths()).values_list("pk", flat=True)) | {case_region.pk}
    chain = _category_chain(category)
    rules = list(
        ResponsibilityRule.objects.filter(category__in=chain, level=level).select_related("department", "region", "category")
    )
    if not rules:
        return Suggestion(None, None, "none", "权责清单无对应条目")
    depth = {c.pk: i for i, c in enumerate(chain)}
    rules = [r for r in rules if r.region_id is None or r.region_id in ancestor_ids]
    rules.sort(key=lambda r: (depth[r.category_id], r.region_id is None, -(r.region.path.count(".") if r.region_id else 0)))
    for rule in rules:
        if rule.department_id and rule.department.active:
            return Suggestion(rule.department, rule, "matrix", str(rule))
        if level_region is not None:
            dept = Department.objects.filter(region=level_region, name=rule.department_name, active=True).first()
            if dept is not None:
                return Suggestion(dept, rule, "matrix", str(rule))
    return Suggestion(None, rules[0] if rules else None, "none", "权责清单条目未对应到本辖区部门")


def matrix_gaps(levels=MATRIX_LEVELS) -> list[dict]:
    """Category × level pairs with no rule (for the category or any parent): the admins' gap list."""
    covered = set(ResponsibilityRule.objects.values_list("category_id", "level"))
    gaps = []
    categories = list(Category.objects.filter(active=True).select_related("parent"))
    by_id = {c.pk: c for c in categories}
    for category in categories:
        if category.children.exists():
            continue
        for level in levels:
            node, found = category, False
            while node is not None:
                if (node.pk, level) in covered:
                    found = True
                    break
                node = by_id.get(node.parent_id) if node.parent_id else None
            if not found:
                gaps.append({"category": category.code, "name": category.name, "level": level})
    return gaps
