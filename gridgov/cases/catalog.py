"""Configuration as files: the category tree (事件/部件分类) and the responsibility matrix
(权责清单) in and out as CSV, and the built-in CJ/T 214 seed.

Two category layouts are read: gridgov's own (the columns of `CATEGORY_COLUMNS`, the same
as `export_categories` writes) and a three-level taxonomy `一级分类,二级分类,三级分类` such as
a 12345 hotline's, whose codes are assigned here with a configurable width per level.
"""

import csv
import io
from pathlib import Path

from django.db import transaction

from gridgov.errors import InvalidInput
from gridgov.places.models import Region, RegionLevel
from gridgov.privacy.services import audit

from .choices import CaseType, CategoryKind, LimitUnit
from .models import Category, Department, ResponsibilityRule

CJT214_FILE = Path(__file__).parent / "data" / "cjt214.csv"
CATEGORY_COLUMNS = [
    "code", "name", "parent_code", "kind", "case_type", "normal_limit", "normal_limit_unit", "urgent_limit_hours",
    "verification_required", "self_resolvable", "escalate_when_overdue", "duplicate_radius_m", "source",
]
MATRIX_COLUMNS = ["category_code", "level", "region_code", "department_name", "department_code", "note"]
TAXONOMY_COLUMNS = ["一级分类", "二级分类", "三级分类"]


def _reader(source) -> csv.DictReader:
    if isinstance(source, (str, Path)):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InvalidInput(f"文件不存在：{source}", f"No such file: {source}", code="file_not_found") from None
        except UnicodeDecodeError:
            raise InvalidInput("文件不是UTF-8编码的CSV", "The file is not UTF-8 CSV") from None
        source = io.StringIO(text)
    return csv.DictReader(source)


def _bool(value: str, line: int, column: str) -> bool:
    value = (value or "").strip().lower()
    if value in {"1", "true", "yes", "是", "y"}:
        return True
    if value in {"0", "false", "no", "否", "n", ""}:
        return False
    raise InvalidInput(f"第{line}行“{column}”应为是/否", f"line {line}: {column} must be a boolean", details={"line": line, "column": column})


def _int(value: str, line: int, column: str, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"第{line}行“{column}”应为整数", f"line {line}: {column} must be an integer", details={"line": line, "column": column}) from None
    if number < minimum:
        raise InvalidInput(f"第{line}行“{column}”不能小于{minimum}", f"line {line}: {column} < {minimum}", details={"line": line, "column": column})
    return number


def _choice(value: str, choices, line: int, column: str) -> str:
    value = (value or "").strip()
    if value not in choices.values:
        raise InvalidInput(f"第{line}行“{column}”取值无效：{value}", f"line {line}: bad {column} {value!r}", details={"line": line, "column": column, "allowed": choices.values})
    return value


@transaction.atomic
def import_categories(source, *, actor=None) -> dict:
    """Create or update categories from gridgov's CSV layout; parents before children. All or nothing."""
    reader = _reader(source)
    missing = set(CATEGORY_COLUMNS[:3]) - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput(f"缺少列：{', '.join(sorted(missing))}", f"Missing columns: {sorted(missing)}", code="bad_columns")
    created = updated = 0
    for line, row in enumerate(reader, start=2):
        code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
        if not code or not name or len(code) > 20 or len(name) > 100:
            raise InvalidInput(f"第{line}行缺少或过长的编码/名称", f"line {line}: bad code or name", details={"line": line})
        parent = None
        if (parent_code := (row.get("parent_code") or "").strip()):
            parent = Category.objects.filter(code=parent_code).first()
            if parent is None:
                raise InvalidInput(f"第{line}行上级分类不存在：{parent_code}", f"line {line}: unknown parent {parent_code}", details={"line": line})
        values = {"name": name, "parent": parent}
        optional = {
            "kind": lambda v: _choice(v, CategoryKind, line, "kind"),
            "case_type": lambda v: _choice(v, CaseType, line, "case_type"),
            "normal_limit": lambda v: _int(v, line, "normal_limit", minimum=1),
            "normal_limit_unit": lambda v: _choice(v, LimitUnit, line, "normal_limit_unit"),
            "urgent_limit_hours": lambda v: _int(v, line, "urgent_limit_hours", minimum=1),
            "verification_required": lambda v: _bool(v, line, "verification_required"),
            "self_resolvable": lambda v: _bool(v, line, "self_resolvable"),
            "escalate_when_overdue": lambda v: _bool(v, line, "escalate_when_overdue"),
            "duplicate_radius_m": lambda v: _int(v, line, "duplicate_radius_m", minimum=1),
            "source": lambda v: v.strip()[:40],
        }
        for column, parse in optional.items():
            if row.get(column) not in (None, ""):
                values[column] = parse(row[column])
        _, was_created = Category.objects.update_or_create(code=code, defaults=values)
        created += was_created
        updated += not was_created
    audit(actor=actor, action="categories.import", object_type="cases.category", object_id="*", data={"created": created, "updated": updated})
    return {"created": created, "updated": updated}


@transaction.atomic
def import_taxonomy(source, *, actor=None, prefix: str = "H", width: int = 2, source_name: str = "12345") -> dict:
    """Import a three-level taxonomy (一级分类,二级分类,三级分类), assigning codes
    `prefix` + `width` digits per level in order of first appearance. Idempotent by path of names."""
    reader = _reader(source)
    if list(reader.fieldnames or [])[:3] != TAXONOMY_COLUMNS:
        raise InvalidInput("分类表须含“一级分类,二级分类,三级分类”三列", "Expected columns 一级分类,二级分类,三级分类", code="bad_columns")
    existing = {}
    for cat in Category.objects.filter(code__startswith=prefix).select_related("parent__parent"):
        names = [c.name for c in (cat.parent.parent if cat.parent and cat.parent.parent else None, cat.parent, cat) if c]
        existing[tuple(names)] = cat
    counters: dict[str, int] = {}
    for cat in existing.values():
        parent_key = cat.parent.code if cat.parent else prefix
        counters[parent_key] = max(counters.get(parent_key, 0), int(cat.code[len(parent_key):] or 0))
    created = 0

    def ensure(path: tuple[str, ...], parent: Category | None) -> Category:
        nonlocal created
        if path in existing:
            return existing[path]
        parent_key = parent.code if parent else prefix
        counters[parent_key] = counters.get(parent_key, 0) + 1
        code = f"{parent_key}{counters[parent_key]:0{width}d}"
        if len(code) > 20:
            raise InvalidInput("分类编码过长", "Category code too long")
        cat = Category.objects.create(code=code, name=path[-1][:100], parent=parent, source=source_name)
        existing[path] = cat
        created += 1
        return cat

    for line, row in enumerate(reader, start=2):
        names = [(row.get(c) or "").strip() for c in TAXONOMY_COLUMNS]
        if not names[0]:
            raise InvalidInput(f"第{line}行缺少一级分类", f"line {line}: missing level 1", details={"line": line})
        parent = None
        for depth in range(3):
            if not names[depth]:
                break
            parent = ensure(tuple(names[: depth + 1]), parent)
    audit(actor=actor, action="categories.import_taxonomy", object_type="cases.category", object_id="*", data={"created": created, "prefix": prefix})
    return {"created": created}


def seed_standard_categories(*, actor=None) -> dict:
    """Seed the CJ/T 214 event and component classes shipped with gridgov (idempotent)."""
    return import_categories(CJT214_FILE, actor=actor)


def export_categories() -> str:
    """All categories in gridgov's CSV layout, parents first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CATEGORY_COLUMNS)
    for c in Category.objects.select_related("parent").order_by("depth", "code"):
        writer.writerow([
            c.code, c.name, c.parent.code if c.parent else "", c.kind, c.case_type, c.normal_limit, c.normal_limit_unit,
            c.urgent_limit_hours, int(c.verification_required), int(c.self_resolvable), int(c.escalate_when_overdue),
            c.duplicate_radius_m, c.source,
        ])
    return out.getvalue()


@transaction.atomic
def import_matrix(source, *, actor=None, replace: bool = False) -> dict:
    """Load responsibility-matrix rows (category × level [× region] → department). All or nothing."""
    reader = _reader(source)
    missing = {"category_code", "level", "department_name"} - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput(f"缺少列：{', '.join(sorted(missing))}", f"Missing columns: {sorted(missing)}", code="bad_columns")
    if replace:
        ResponsibilityRule.objects.all().delete()
    created = 0
    levels = {RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY, RegionLevel.CITY}
    for line, row in enumerate(reader, start=2):
        category = Category.objects.filter(code=(row.get("category_code") or "").strip()).first()
        if category is None:
            raise InvalidInput(f"第{line}行分类不存在", f"line {line}: unknown category", details={"line": line})
        level = (row.get("level") or "").strip()
        if level not in levels:
            raise InvalidInput(f"第{line}行层级无效：{level}", f"line {line}: bad level", details={"line": line, "allowed": sorted(levels)})
        region = None
        if (region_code := (row.get("region_code") or "").strip()):
            region = Region.objects.filter(code=region_code).first()
            if region is None:
                raise InvalidInput(f"第{line}行区划不存在：{region_code}", f"line {line}: unknown region", details={"line": line})
        department = None
        if (dept_code := (row.get("department_code") or "").strip()):
            department = Department.objects.filter(code=dept_code).first()
            if department is None:
                raise InvalidInput(f"第{line}行部门不存在：{dept_code}", f"line {line}: unknown department", details={"line": line})
        name = (row.get("department_name") or "").strip() or (department.name if department else "")
        if not name:
            raise InvalidInput(f"第{line}行缺少责任部门", f"line {line}: department missing", details={"line": line})
        _, was_created = ResponsibilityRule.objects.update_or_create(
            category=category, level=level, region=region,
            defaults={"department_name": name[:100], "department": department, "note": (row.get("note") or "")[:200]},
        )
        created += was_created
    audit(actor=actor, action="matrix.import", object_type="cases.responsibilityrule", object_id="*", data={"created": created, "replace": replace})
    return {"created": created, "total": ResponsibilityRule.objects.count()}


def export_matrix() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MATRIX_COLUMNS)
    for r in ResponsibilityRule.objects.select_related("category", "region", "department").order_by("category__code", "level", "id"):
        writer.writerow([r.category.code, r.level, r.region.code if r.region else "", r.department_name,
                         r.department.code if r.department else "", r.note])
    return out.getvalue()
