"""Importing administrative division codes (行政区划) into the region tree."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from gridgov.errors import InvalidInput
from gridgov.privacy.services import audit

from ..models import LEVEL_ORDER, CodeSystem, Grid, MicroGrid, Region, RegionLevel
from ..signals import index_signals_paused
from .common import (
    HIERARCHY_COLUMNS,
    MAX_ERRORS,
    PARENT_COLUMNS,
    _in_chunks,
    _refuse,
    bump_index_version,
    level_of,
    normalise_code,
    parent_code,
    significant_prefix,
)


@dataclass
class _Division:
    code: str
    name: str
    line: int
    parent: str | None = None
    level: str = field(init=False)

    def __post_init__(self):
        self.level = level_of(self.code)


def _open_text(path_or_file):
    """A text stream (UTF-8, BOM allowed) from a path or a text/binary file object."""
    if isinstance(path_or_file, (str, Path)):
        try:
            return open(path_or_file, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise InvalidInput(f"无法打开文件：{path_or_file}（{exc.strerror}）", f"Cannot open {path_or_file}: {exc.strerror}",
                               code="file_unreadable") from None
    if isinstance(path_or_file, (bytes, bytearray)):
        path_or_file = io.BytesIO(path_or_file)
    sample = path_or_file.read(0)
    if isinstance(sample, bytes):
        return io.TextIOWrapper(path_or_file, encoding="utf-8-sig", newline="")
    return path_or_file


def _read_divisions(path_or_file, wanted=None, province: str = "") -> tuple[dict[str, _Division], list[dict], int]:
    """Parse a division CSV of either layout into {code: _Division}, only the codes for which
    ``wanted(code)`` is true if given (rows of flat files not starting with ``province`` are
    skipped unparsed: a national file is read quickly for one city); errors are collected."""
    stream = _open_text(path_or_file)
    errors: list[dict] = []
    nodes: dict[str, _Division] = {}
    rows = 0
    try:
        reader = csv.DictReader(stream)
        header = {(h or "").strip().lower(): h for h in (reader.fieldnames or [])}
        pairs = [(header[c], header[n]) for c, n in HIERARCHY_COLUMNS if c in header and n in header]
        if not pairs and not ("code" in header and "name" in header):
            raise InvalidInput(
                "无法识别的区划文件：需要 code,name[,上级代码] 列，或 city_code,county_code,township_code,village_code 等成对的代码/名称列",
                "Unrecognised division file: expected code,name[,parent code] or city_code/county_code/township_code/village_code column pairs",
                code="division_layout", details={"columns": list(reader.fieldnames or [])},
            )
        parent_cols = [header[c] for c in PARENT_COLUMNS if c in header]

        def add(code_raw, name, line, given_parent=None):
            try:
                code = normalise_code(code_raw)
                given = normalise_code(given_parent) if given_parent not in (None, "") else None
            except ValueError as exc:
                errors.append({"line": line, "problem": str(exc)})
                return
            if wanted is not None and not wanted(code):
                return
            if given == code:
                return  # NBS lists cities without districts (东莞 441900) again as their own district
            name = (name or "").strip()
            if not name:
                errors.append({"line": line, "code": code, "problem": "名称为空"})
                return
            if len(name) > Region._meta.get_field("name").max_length:
                errors.append({"line": line, "code": code, "problem": "名称过长"})
                return
            expected = parent_code(code)
            if given is not None and given != expected:
                errors.append({"line": line, "code": code, "problem": f"上级代码 {given} 与代码前缀不符（应为 {expected}）"})
                return
            known = nodes.get(code)
            if known is None:
                nodes[code] = _Division(code, name, line, expected)
            elif known.name != name:
                errors.append({"line": line, "code": code, "problem": f"同一代码有两个名称：{known.name}（第 {known.line} 行）与 {name}"})

        for line, row in enumerate(reader, start=2):
            rows += 1
            if pairs:
                for code_col, name_col in pairs:
                    if (row.get(code_col) or "").strip():
                        add(row[code_col], row.get(name_col), line)
            elif (row.get(header["code"]) or "").strip().startswith(province):
                # several parent columns (streetCode, areaCode, cityCode…): the longest code is the parent
                given = max((row[c].strip() for c in parent_cols if (row.get(c) or "").strip()), key=len, default=None)
                add(row.get(header["code"]), row.get(header["name"]), line, given)
            if len(errors) >= MAX_ERRORS:
                break
    except csv.Error as exc:
        errors.append({"line": reader.line_num, "problem": f"CSV 格式错误：{exc}"})
    except UnicodeDecodeError:
        raise InvalidInput("文件不是 UTF-8 编码", "The file is not UTF-8", code="file_encoding") from None
    finally:
        if isinstance(path_or_file, (str, Path)):
            stream.close()
    return nodes, errors, rows


def import_divisions(path_or_file, *, code_system: str = CodeSystem.NBS, code_year: int = 2023, root_code=None,
                     actor=None) -> dict:
    """Load division codes from a CSV into the region tree; idempotent (names are updated,
    nothing is duplicated, a region whose parent changed is moved with everything below)."""
    if code_system not in CodeSystem.values:
        raise InvalidInput(f"未知的代码体系：{code_system}（可选 nbs、mca）", f"Unknown code system {code_system!r}",
                           code="code_system")
    if not isinstance(code_year, int) or not 1980 <= code_year <= 2100:
        raise InvalidInput(f"代码年份不合理：{code_year}", f"Implausible code year {code_year!r}", code="code_year")
    wanted = None
    if root_code not in (None, ""):
        try:
            root = normalise_code(root_code)
        except ValueError as exc:
            raise InvalidInput(str(exc), f"Bad root code {root_code!r}", code="root_code") from None
        # the branch under the root, and the root's ancestors where the file has them
        prefix, above = significant_prefix(root), set()
        code = parent_code(root)
        while code:
            above.add(code)
            code = parent_code(code)

        def wanted(code):
            return code.startswith(prefix) or code in above

    nodes, errors, rows = _read_divisions(path_or_file, wanted, prefix[:2] if wanted else "")
    if errors:
        _refuse("区划文件有错误", "The division file has errors", errors, "division_file")
    if not nodes:
        if wanted is not None:
            raise InvalidInput(f"文件中没有 {root} 及其下级区划", f"No divisions under {root} in the file", code="root_code")
        raise InvalidInput("文件中没有区划", "The file holds no divisions", code="division_file")

    codes = set(nodes) | {d.parent for d in nodes.values() if d.parent}
    existing: dict[str, Region] = {}
    for chunk in _in_chunks(codes):
        existing.update((r.code, r) for r in Region.objects.filter(code_system=code_system, code__in=chunk))
    missing = [d for d in nodes.values() if d.parent and d.parent not in nodes and d.parent not in existing
               and d.level not in (RegionLevel.PROVINCE, RegionLevel.CITY)]
    if missing:
        _refuse("上级区划缺失（先导入上级，或在同一文件中提供）", "Parent regions are missing (import them first)",
                [{"line": d.line, "code": d.code, "problem": f"上级 {d.parent} 不在文件中也不在数据库中"} for d in missing],
                "division_parent_missing")

    with transaction.atomic(), index_signals_paused():
        summary = _write_divisions(nodes, existing, code_system, code_year)
        summary.update(code_system=code_system, code_year=code_year, rows=rows)
        if summary["updated"] or summary["moved"]:
            bump_index_version()  # names and ancestry shown by locate() changed
        audit(actor=actor, action="places.import_divisions", object_type="places.region", data=summary)
    return summary


def _write_divisions(nodes: dict[str, _Division], existing: dict[str, Region], code_system: str, code_year: int) -> dict:
    created = {level.value: 0 for level in RegionLevel}
    updated = unchanged = moved = 0
    by_code = dict(existing)
    for level in LEVEL_ORDER:
        level_nodes = [d for d in nodes.values() if d.level == level]
        new_rows = []
        for d in level_nodes:
            parent = by_code.get(d.parent) if d.parent else None
            region = existing.get(d.code)
            if region is None:
                region = Region(code=d.code, name=d.name, level=d.level, parent=parent, code_system=code_system,
                                code_year=code_year)
                region.path = (parent.path if parent else "") + d.code + "."
                new_rows.append(region)
                continue
            changed = region.name != d.name or region.code_year != code_year
            region.name, region.code_year = d.name, code_year
            if parent is not None and region.parent_id != parent.pk:
                old_path = region.path
                region.parent = parent
                region.save()
                _move_subtree(old_path, region.path)
                moved += 1
            elif changed:
                region.save(update_fields=["name", "code_year"])
                updated += 1
            else:
                unchanged += 1
        if new_rows:
            _refuse_path_clashes(new_rows, code_system)
            Region.objects.bulk_create(new_rows, batch_size=1000)
            created[level] += len(new_rows)
            by_code.update((r.code, r) for r in new_rows)
    # Regions imported earlier without their parent (a city before its province) are
    # adopted by the parent now.
    for orphan in Region.objects.filter(parent__isnull=True, code_system=code_system).exclude(code__in=list(nodes)):
        parent = by_code.get(parent_code(orphan.code) or "")
        if parent is not None and parent.code in nodes:
            old_path = orphan.path
            orphan.parent = parent
            orphan.save()
            _move_subtree(old_path, orphan.path)
            moved += 1
    return {"created": created, "created_total": sum(created.values()), "updated": updated, "moved": moved,
            "unchanged": unchanged}


def _refuse_path_clashes(rows: list[Region], code_system: str) -> None:
    clashes = []
    for chunk in _in_chunks([r.path for r in rows]):
        clashes += list(Region.objects.filter(path__in=chunk).exclude(code_system=code_system).values("code", "code_system"))
    if clashes:
        _refuse("这些代码已以另一代码体系存在于同一位置", "These codes already exist under another code system",
                [{"code": c["code"], "problem": f"已存在于 {c['code_system']} 体系"} for c in clashes], "code_system_clash")


def _move_subtree(old_path: str, new_path: str) -> None:
    """Rewrite the materialised paths below a moved region (regions, grids, micro-grids)."""
    for model in (Region, Grid, MicroGrid):
        rows = list(model.objects.filter(path__startswith=old_path).only("id", "path"))
        for row in rows:
            row.path = new_path + row.path[len(old_path):]
        model.objects.bulk_update(rows, ["path"], batch_size=1000)


# ---- grids ------------------------------------------------------------------------------
