"""Importing, validating, numbering and editing grids (网格) and micro-grids (微网格)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from gridgov.errors import Conflict, InvalidInput, NotFound
from gridgov.privacy.services import audit

from .. import geo
from ..models import CodeSystem, Grid, GridKind, MicroGrid, Region, RegionLevel
from ..signals import index_signals_paused
from .common import (
    OUTSIDE_TOLERANCE_M2,
    OUTSIDE_TOLERANCE_SHARE,
    OVERLAP_TOLERANCE_M2,
    OVERLAP_TOLERANCE_SHARE,
    _refuse,
    bump_index_version,
)
from .divisions import _move_subtree


def grid_sequence_width() -> int:
    return int(settings.GRIDGOV["GRID_SEQUENCE_WIDTH"])


def micro_grid_sequence_width() -> int:
    return int(settings.GRIDGOV.get("MICROGRID_SEQUENCE_WIDTH", 3))


def reading_order(geometries) -> list[int]:
    """Positions of the polygons in DB11 numbering order: west→east along a row, rows from
    north to south (a row: centroids within half a typical polygon height)."""
    geoms = np.asarray(geometries, dtype=object)
    if len(geoms) == 0:
        return []
    centre = shapely.centroid(geoms)
    x, y = shapely.get_x(centre), shapely.get_y(centre)
    bounds = shapely.bounds(geoms)
    band = 0.5 * float(np.median(bounds[:, 3] - bounds[:, 1]))
    rows, top = [], None
    for i in sorted(range(len(geoms)), key=lambda i: (-y[i], x[i])):
        if top is None or top - y[i] > band:
            rows.append([])
            top = y[i]
        rows[-1].append(i)
    return [i for row in rows for i in sorted(row, key=lambda i: (x[i], -y[i]))]


@dataclass
class _Shape:
    """One grid or micro-grid of an import, parsed."""

    feature: int
    name: str
    geometry: object
    geojson: dict
    code: str | None = None
    community_code: str | None = None  # grids
    grid_code: str | None = None  # micro-grids
    kind: str = GridKind.COMMUNITY
    special_type: str = ""
    households: int = 0
    targets: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.code}（{self.name}）" if self.code and self.name else (self.code or self.name or f"#{self.feature}")


def _load_geojson(source) -> dict:
    """A GeoJSON FeatureCollection from a dict, a path, JSON text or a file object."""
    try:
        if isinstance(source, dict):
            data = source
        elif isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
            with open(source, encoding="utf-8-sig") as fh:
                data = json.load(fh)
        elif isinstance(source, (str, bytes, bytearray)):
            data = json.loads(source)
        else:
            data = json.load(source)
    except OSError as exc:
        raise InvalidInput(f"无法打开文件：{source}（{exc.strerror}）", f"Cannot open {source}: {exc.strerror}",
                           code="file_unreadable") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"不是有效的 GeoJSON：{exc}", f"Not valid GeoJSON: {exc}", code="geojson_invalid") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise InvalidInput("需要一个 GeoJSON FeatureCollection", "A GeoJSON FeatureCollection is required", code="geojson_invalid")
    return data


def _polygon(geometry) -> tuple[object, str | None]:
    """(Shapely polygon, None) or (None, the problem in Chinese)."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else "无"
        return None, f"几何类型必须是 Polygon 或 MultiPolygon（现为 {kind}）"
    try:
        geom = shapely.geometry.shape(geometry)
    except Exception:  # noqa: BLE001 - any malformed coordinate array is the user's input error
        return None, "几何坐标格式错误"
    if geom.is_empty:
        return None, "几何为空"
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all() or (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        return None, "坐标超出经纬度范围（需要 WGS-84 的经度、纬度）"
    if not geom.is_valid:
        return None, f"边界无效：{shapely.is_valid_reason(geom)}"
    return geom, None


def _count(value, what: str) -> tuple[int, str | None]:
    if value in (None, ""):
        return 0, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2_000_000_000:
        return 0, f"{what}必须是非负整数（现为 {value!r}）"
    return value, None


def _parse_features(features: list) -> tuple[list[_Shape], list[_Shape], list[dict]]:
    width, micro_width = grid_sequence_width(), micro_grid_sequence_width()
    grids, micros, errors = [], [], []
    for n, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            errors.append({"feature": n, "grid": f"#{n}", "problem": "缺少 properties"})
            continue
        text = {k: str(v).strip() if v is not None else "" for k, v in props.items()}
        shape = _Shape(feature=n, name=text.get("name", ""), geometry=None, geojson=feature.get("geometry"),
                       code=text.get("code") or None)
        problems = []
        geom, problem = _polygon(feature.get("geometry"))
        problems += [problem] if problem else []
        shape.geometry = geom
        shape.households, problem = _count(props.get("households"), "户数")
        problems += [problem] if problem else []
        if not shape.name:
            problems.append("缺少名称 name")
        elif len(shape.name) > 100:
            problems.append("名称超过 100 字")
        if text.get("grid_code"):
            shape.grid_code = text["grid_code"]
            code = shape.code or ""
            if not (code.isdigit() and code.isascii() and len(code) == len(shape.grid_code) + micro_width
                    and code.startswith(shape.grid_code) and int(code[-micro_width:]) > 0):
                problems.append(f"微网格编码 {code or '（空）'} 应为所属网格编码 {shape.grid_code} 加 {micro_width} 位序号")
            (micros if not problems else []).append(shape)
        else:
            community = text.get("community_code") or None
            code = shape.code
            if code is not None and not (code.isdigit() and code.isascii() and len(code) == 12 + width and int(code[12:]) > 0):
                problems.append(f"网格编码 {code} 应为 12 位社区代码加 {width} 位序号（共 {12 + width} 位）")
            elif code is not None and community and community != code[:12]:
                problems.append(f"网格编码 {code} 与社区代码 {community} 不一致")
            elif code is None and not (community and community.isdigit() and len(community) == 12):
                problems.append("需要 15 位网格编码 code，或 12 位社区代码 community_code 加名称")
            shape.community_code = code[:12] if code else community
            shape.kind = text.get("kind") or GridKind.COMMUNITY
            if shape.kind not in GridKind.values:
                problems.append(f"网格类型 {shape.kind} 不在 {', '.join(GridKind.values)} 之中")
            shape.special_type = text.get("special_type", "")[:40]
            for key in ("target_min_households", "target_max_households"):
                if props.get(key) not in (None, ""):
                    shape.targets[key], problem = _count(props[key], "目标户数")
                    problems += [problem] if problem else []
            (grids if not problems else []).append(shape)
        errors += [{"feature": n, "grid": shape.label, "problem": p} for p in problems]
    for kind, shapes in (("网格", grids), ("微网格", micros)):
        seen = {}
        for shape in shapes:
            if shape.code and shape.code in seen:
                errors.append({"feature": shape.feature, "grid": shape.label, "problem": f"{kind}编码在文件中重复（另见第 {seen[shape.code]} 个要素）"})
            seen.setdefault(shape.code, shape.feature)
    return grids, micros, errors


def _mapping(geom) -> dict:
    return json.loads(shapely.to_geojson(geom))


def _shape_of(geojson: dict):
    return shapely.geometry.shape(geojson)


def _area_factor(geoms) -> float:
    """Square metres per square degree near these polygons."""
    lat0 = float(np.mean(shapely.bounds(np.asarray(geoms, dtype=object))[:, [1, 3]]))
    kx, ky = geo.metres_per_degree(lat0)
    return kx * ky


def _overlap_errors(items: list[tuple[int | None, str, object, bool]], what: str) -> list[dict]:
    """Overlaps above the tolerance among sibling polygons (feature, label, geometry, is_new),
    at least one of each pair from the file."""
    if len(items) < 2:
        return []
    geoms = np.array([g for _, _, g, _ in items], dtype=object)
    new = np.array([n for *_, n in items])
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = (a < b) & (new[a] | new[b])
    a, b = a[keep], b[keep]
    if not len(a):
        return []
    k = _area_factor(geoms)
    overlap = shapely.area(shapely.intersection(geoms[a], geoms[b])) * k
    smaller = np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b])) * k
    bad = (overlap > OVERLAP_TOLERANCE_M2) & (overlap > OVERLAP_TOLERANCE_SHARE * smaller)
    errors = []
    for i, j, area in zip(a[bad], b[bad], overlap[bad]):
        first, second = (i, j) if new[i] else (j, i)
        errors.append({"feature": items[first][0], "grid": items[first][1],
                       "problem": f"与{what} {items[second][1]} 重叠 {area:.0f} 平方米"})
    return errors


def _outside_errors(items: list[tuple[int | None, str, object]], territory, where: str) -> list[dict]:
    """Polygons reaching outside their territory by more than the tolerance."""
    if not items:
        return []
    geoms = np.array([g for _, _, g in items], dtype=object)
    k = _area_factor(geoms)
    outside = shapely.area(shapely.difference(geoms, territory)) * k
    bad = (outside > OUTSIDE_TOLERANCE_M2) & (outside > OUTSIDE_TOLERANCE_SHARE * shapely.area(geoms) * k)
    return [{"feature": items[i][0], "grid": items[i][1], "problem": f"超出{where}边界 {outside[i]:.0f} 平方米"}
            for i in np.flatnonzero(bad)]


class _GridImport:
    """One import_grids call: resolve codes against the database, check, then write."""

    def __init__(self, grids: list[_Shape], micros: list[_Shape], replace: bool):
        self.grids, self.micros, self.replace = grids, micros, replace
        self.assigned: dict[str, str] = {}

    # resolving ----------------------------------------------------------------------------

    def resolve(self) -> list[dict]:
        errors = []
        wanted = {g.community_code for g in self.grids}
        self.communities: dict[str, Region] = {}
        for region in Region.objects.filter(level=RegionLevel.COMMUNITY, code__in=wanted):
            if region.code not in self.communities or region.code_system == CodeSystem.NBS:
                self.communities[region.code] = region
        for g in self.grids:
            if g.community_code not in self.communities:
                errors.append({"feature": g.feature, "grid": g.label, "problem": f"社区/村 {g.community_code} 不存在（请先导入区划）"})
        if errors:
            return errors
        grids = Grid.objects.select_related("region")
        self.existing = {e.code: e for e in grids.filter(region__in=list(self.communities.values()))}
        coded = [g.code for g in self.grids if g.code and g.code not in self.existing]
        self.existing.update((e.code, e) for e in grids.filter(code__in=coded))
        errors += self._assign_codes()
        self.file_codes = {g.code for g in self.grids}

        parent_codes = {m.grid_code for m in self.micros} - self.file_codes
        self.parents = {g.code: g for g in grids.filter(code__in=parent_codes)}
        for m in self.micros:
            if m.grid_code not in self.file_codes and m.grid_code not in self.parents:
                errors.append({"feature": m.feature, "grid": m.label, "problem": f"所属网格 {m.grid_code} 不存在"})
        touched = self.file_codes | set(self.parents)
        self.existing_micros = {m.code: m for m in MicroGrid.objects.filter(grid__code__in=touched).select_related("grid")}
        self.existing_micros.update(
            (m.code, m) for m in MicroGrid.objects.filter(code__in=[m.code for m in self.micros]).select_related("grid")
        )
        return errors

    def _assign_codes(self) -> list[dict]:
        """Codes for features that came with a community and a name only: the existing grid
        of that name keeps its code, new grids get the next sequences in reading order."""
        errors, width = [], grid_sequence_width()
        by_name = {(e.region.code, e.name): e for e in self.existing.values() if e.region_id}
        pending: dict[str, list[_Shape]] = {}
        seen_names = set()
        for g in self.grids:
            key = (g.community_code, g.name)
            if key in seen_names and g.code is None:
                errors.append({"feature": g.feature, "grid": g.label, "problem": "同一社区内网格名称重复，无法按名称对应"})
            seen_names.add(key)
            if g.code is None:
                if key in by_name:
                    g.code = by_name[key].code
                else:
                    pending.setdefault(g.community_code, []).append(g)
        for community, shapes in pending.items():
            used = [int(c[12:]) for c in self.existing if c.startswith(community)]
            used += [int(g.code[12:]) for g in self.grids if g.code and g.code.startswith(community)]
            start = max(used, default=0) + 1
            if start + len(shapes) - 1 >= 10 ** width:
                errors.append({"grid": community, "problem": f"社区 {community} 的网格序号超过 {width} 位"})
                continue
            for n, i in enumerate(reading_order([g.geometry for g in shapes])):
                shapes[i].code = f"{community}{start + n:0{width}d}"
                self.assigned[shapes[i].name] = shapes[i].code
        return errors

    # checking -----------------------------------------------------------------------------

    def check(self) -> list[dict]:
        errors = []
        by_community: dict[str, list[_Shape]] = {}
        for g in self.grids:
            by_community.setdefault(g.community_code, []).append(g)
        for code, members in by_community.items():
            community = self.communities[code]
            items = [(g.feature, g.label, g.geometry, True) for g in members]
            if not self.replace:
                items += [(None, f"{e.code}（{e.name}）", _shape_of(e.geometry), False)
                          for e in self.existing.values() if e.region_id == community.pk and e.code not in self.file_codes]
            errors += _overlap_errors(items, "网格")
            if community.geometry:
                territory = _shape_of(community.geometry)
                errors += _outside_errors([(g.feature, g.label, g.geometry) for g in members], territory, f"社区/村 {community.name}")

        self.grid_geometry = {g.code: g.geometry for g in self.grids}
        self.grid_geometry.update((c, _shape_of(p.geometry)) for c, p in self.parents.items())
        micro_codes = {m.code for m in self.micros}
        by_grid: dict[str, list] = {}
        for m in self.micros:
            by_grid.setdefault(m.grid_code, []).append((m.feature, m.label, m.geometry, True))
        for m in self.existing_micros.values():
            kept = m.code not in micro_codes and not self.replace
            if kept and m.grid.code in self.grid_geometry:
                by_grid.setdefault(m.grid.code, []).append((None, f"{m.code}（{m.name}）", _shape_of(m.geometry), False))
        for grid_code, items in by_grid.items():
            if grid_code not in self.grid_geometry:
                continue
            errors += _overlap_errors(items, "微网格")
            errors += _outside_errors([i[:3] for i in items], self.grid_geometry[grid_code], f"网格 {grid_code}")
        return errors

    # writing ------------------------------------------------------------------------------

    def write(self) -> dict:
        now = timezone.now()
        fields = ["name", "kind", "special_type", "households", "geometry", "region", "target_min_households",
                  "target_max_households"]
        grids, created, updated, moved = {}, [], [], []
        for g in self.grids:
            region = self.communities[g.community_code]
            values = {"name": g.name, "kind": g.kind, "special_type": g.special_type, "households": g.households,
                      "geometry": _mapping(g.geometry), "region": region, **g.targets}
            grid = self.existing.get(g.code)
            if grid is None:
                grid = Grid(code=g.code, **values)
                created.append(grid)
            elif any(getattr(grid, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(grid, k, v)
                grid.updated_at = now
                updated.append(grid)
            old_path = grid.path
            grid.path = region.path + g.code + "."
            grid.set_bbox()
            if grid.pk and old_path != grid.path:
                moved.append((old_path, grid.path))
            grids[g.code] = grid
        Grid.objects.bulk_create(created, batch_size=500)
        Grid.objects.bulk_update(updated, fields + ["path", "min_lon", "min_lat", "max_lon", "max_lat", "updated_at"], batch_size=500)
        for old_path, new_path in moved:
            _move_subtree(old_path, new_path)
        deleted = []
        if self.replace:
            deleted = [e for e in self.existing.values()
                       if e.region.code in self.communities and e.code not in self.file_codes]
            _delete(Grid, deleted, "网格")

        grids.update(self.parents)
        micro_created, micro_updated = [], []
        for m in self.micros:
            grid = grids[m.grid_code]
            values = {"name": m.name, "households": m.households, "geometry": _mapping(m.geometry), "grid": grid}
            micro = self.existing_micros.get(m.code)
            if micro is None:
                micro = MicroGrid(code=m.code, **values)
                micro_created.append(micro)
            elif any(getattr(micro, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(micro, k, v)
                micro.updated_at = now
                micro_updated.append(micro)
            micro.path = grid.path + m.code + "."
            micro.set_bbox()
        MicroGrid.objects.bulk_create(micro_created, batch_size=500)
        MicroGrid.objects.bulk_update(micro_updated, ["name", "households", "geometry", "grid", "path", "min_lon", "min_lat",
                                                      "max_lon", "max_lat", "updated_at"], batch_size=500)
        micro_deleted = []
        if self.replace:
            micro_codes = {m.code for m in self.micros}
            micro_deleted = [m for m in self.existing_micros.values()
                             if m.code not in micro_codes and m.grid.code in grids and m.grid_id not in {d.pk for d in deleted}]
            _delete(MicroGrid, micro_deleted, "微网格")
        return {
            "grids_created": len(created), "grids_updated": len(updated), "grids_deleted": len(deleted),
            "grids_unchanged": len(self.grids) - len(created) - len(updated),
            "micro_grids_created": len(micro_created), "micro_grids_updated": len(micro_updated),
            "micro_grids_deleted": len(micro_deleted), "communities": len({g.community_code for g in self.grids}),
            "codes_assigned": self.assigned,
            "created": [g.code for g in created][:200], "deleted": [g.code for g in deleted][:200],
        }


def _delete(model, rows: list, what: str) -> None:
    """Delete rows; if other data still refers to them (PROTECT), refuse naming them."""
    if not rows:
        return
    try:
        with transaction.atomic():
            model.objects.filter(pk__in=[r.pk for r in rows]).delete()
    except ProtectedError as exc:
        referenced = {
            getattr(o, f.attname)
            for o in exc.protected_objects
            for f in o._meta.concrete_fields
            if f.is_relation and f.related_model is model
        }
        blocked = sorted(r.code for r in rows if r.pk in referenced)[:10]
        raise Conflict(f"{what}仍被案件等数据引用，不能删除：{'、'.join(blocked)}",
                       f"Still referenced (e.g. by cases), cannot delete: {', '.join(blocked)}",
                       details={"codes": blocked}) from None


def import_grids(geojson, *, actor=None, replace: bool = False) -> dict:
    """Load grids and micro-grids from a GeoJSON FeatureCollection (WGS-84). Everything is
    checked first: on any error nothing is written and the offending grids are named.
    With ``replace`` the file is the whole truth for the communities it names: their grids
    missing from it are deleted (and the micro-grids missing under the file's grids)."""
    data = _load_geojson(geojson)
    grids, micros, errors = _parse_features(data["features"])
    if errors:
        _refuse("网格文件有错误", "The grid file has errors", errors, "grid_file")
    if not grids and not micros:
        raise InvalidInput("文件中没有网格", "The file holds no grids", code="grid_file")
    job = _GridImport(grids, micros, replace)
    errors = job.resolve()
    errors = errors or job.check()
    if errors:
        _refuse("网格未通过校验", "The grids failed validation", errors, "grid_invalid")
    with transaction.atomic(), index_signals_paused():
        summary = job.write()
        summary["index_version"] = bump_index_version()
        audit(actor=actor, action="places.import_grids", object_type="places.grid", data=summary)
    return summary


def number_grids(community: Region, *, actor=None) -> list[tuple[str, str]]:
    """Renumber a community's grids west→east, north→south (DB11 practice); micro-grid codes
    follow their grid. Returns the (old, new) code pairs that changed."""
    if not isinstance(community, Region):
        community = Region.objects.filter(code=str(community), level=RegionLevel.COMMUNITY).first()
        if community is None:
            raise NotFound("社区/村不存在", "No such community")
    if community.level != RegionLevel.COMMUNITY:
        raise InvalidInput("只能为社区/村的网格编号", "Only a community's grids are numbered", code="not_a_community")
    width = grid_sequence_width()
    with transaction.atomic(), index_signals_paused():
        grids = list(Grid.objects.select_for_update().filter(region=community).order_by("code"))
        order = reading_order([_shape_of(g.geometry) for g in grids])
        if len(grids) >= 10 ** width:
            raise InvalidInput(f"网格数超过 {width} 位序号", "Too many grids for the sequence width", code="grid_sequence")
        renames = [(grids[i], f"{community.code}{n + 1:0{width}d}") for n, i in enumerate(order)]
        renames = [(g, new) for g, new in renames if g.code != new]
        if not renames:
            return []
        old_codes = {g.pk: g.code for g, _ in renames}
        # Two passes so that swapped codes never collide on the unique columns.
        for final in (False, True):
            for grid, new in renames:
                code = new if final else f"~{grid.pk}"
                prefix = grid.code
                grid.code, grid.path = code, community.path + code + "."
                Grid.objects.filter(pk=grid.pk).update(code=grid.code, path=grid.path, updated_at=timezone.now())
                micros = list(MicroGrid.objects.filter(grid=grid))
                for m in micros:
                    m.code = code + m.code[len(prefix):]
                    m.path = grid.path + m.code + "."
                MicroGrid.objects.bulk_update(micros, ["code", "path"])
        pairs = [(old_codes[g.pk], new) for g, new in renames]
        bump_index_version()
        audit(actor=actor, action="places.number_grids", obj=community, data={"renamed": pairs})
    return pairs


# ---- single edits (the admin) -----------------------------------------------------------


def check_polygon(geometry) -> dict:
    """A GeoJSON polygon checked as an import checks it (type, ranges, validity), normalised;
    InvalidInput otherwise."""
    geom, problem = _polygon(geometry)
    if problem:
        raise InvalidInput(problem, "Invalid polygon", code="polygon_invalid")
    return _mapping(geom)


def save_territory(obj, *, actor=None):
    """Save a region, grid or micro-grid edited one at a time; when its place in the tree
    changed, everything below it follows."""
    model = type(obj)
    with transaction.atomic(), index_signals_paused():
        old_path = model.objects.filter(pk=obj.pk).values_list("path", flat=True).first() if obj.pk else None
        created = obj.pk is None
        obj.save()
        if old_path and old_path != obj.path:
            _move_subtree(old_path, obj.path)
        bump_index_version()
        audit(actor=actor, action=f"places.{model._meta.model_name}.{'create' if created else 'update'}", obj=obj,
              data={"code": obj.code, "path": obj.path, "moved_from": old_path if old_path != obj.path else None})
    return obj


def delete_territory(obj, *, actor=None) -> None:
    """Delete a region, grid or micro-grid (and what cascades below it)."""
    model = type(obj)
    with transaction.atomic(), index_signals_paused():
        data = {"code": obj.code, "path": obj.path}
        pk = obj.pk
        _delete(model, [obj], str(model._meta.verbose_name))
        bump_index_version()
        audit(actor=actor, action=f"places.{model._meta.model_name}.delete", object_type=model._meta.label_lower,
              object_id=str(pk), data=data)


# ---- reading ----------------------------------------------------------------------------
