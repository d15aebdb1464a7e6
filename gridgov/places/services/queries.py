"""Reading grids for the API and exports: scope, lookups, GeoJSON."""

from __future__ import annotations

from gridgov.errors import NotFound

from ..models import CodeSystem, Grid, MicroGrid, Region
from .common import normalise_code


def grids_visible_to(user):
    """The grids a user may see (Grid.objects.restrict): superusers all, staff their node of
    the tree and below, nobody without a territory."""
    return Grid.objects.restrict(user).select_related("region")


def find_region(code) -> Region:
    """The region with a division code (NBS preferred when both systems have it); NotFound."""
    try:
        code = normalise_code(code)
    except ValueError:
        raise NotFound(f"区划 {code} 不存在", f"No region {code}") from None
    regions = list(Region.objects.filter(code=code))
    region = next((r for r in regions if r.code_system == CodeSystem.NBS), regions[0] if regions else None)
    if region is None:
        raise NotFound(f"区划 {code} 不存在", f"No region {code}")
    return region


def export_grids(scope_region=None, *, grids=None) -> dict:
    """Grids and micro-grids as a GeoJSON FeatureCollection (the format import_grids reads),
    optionally only those under a region (a Region or its code) and within ``grids``."""
    grids = (grids if grids is not None else Grid.objects.all()).select_related("region").order_by("code")
    if scope_region is not None:
        region = scope_region if isinstance(scope_region, Region) else find_region(scope_region)
        grids = grids.filter(path__startswith=region.path)
    grids = list(grids)
    features = [grid_feature(g) for g in grids]
    micros = MicroGrid.objects.filter(grid__in=[g.pk for g in grids]).select_related("grid").order_by("code")
    features += [
        {"type": "Feature", "id": m.code, "geometry": m.geometry,
         "properties": {"grid_code": m.grid.code, "code": m.code, "name": m.name, "households": m.households}}
        for m in micros
    ]
    return {"type": "FeatureCollection", "features": features}


def grid_feature(grid: Grid, *, micro_grids: bool = False) -> dict:
    """One grid as a GeoJSON Feature (with its micro-grids listed if asked)."""
    feature = {
        "type": "Feature",
        "id": grid.code,
        "geometry": grid.geometry,
        "properties": {
            "code": grid.code, "name": grid.name, "kind": grid.kind, "special_type": grid.special_type,
            "households": grid.households, "target_min_households": grid.target_min_households,
            "target_max_households": grid.target_max_households, "households_in_target": grid.households_in_target,
            "community_code": grid.region.code, "community_name": grid.region.name,
        },
    }
    if micro_grids:
        feature["properties"]["micro_grids"] = [
            {"code": m.code, "name": m.name, "households": m.households, "geometry": m.geometry}
            for m in grid.micro_grids.order_by("code")
        ]
    return feature
