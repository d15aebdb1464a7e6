"""Places API: grids as GeoJSON, locate a point. Authentication is the API's default (a
token or a signed-in session); every grid answer is restricted to the user's jurisdiction."""

from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from gridgov.errors import NotFound

from . import geo, locate, services

router = Router(tags=["places"])


class FeatureOut(Schema):
    type: Literal["Feature"]
    id: str
    geometry: dict
    properties: dict


class FeatureCollectionOut(Schema):
    type: Literal["FeatureCollection"]
    features: list[FeatureOut]


class RegionOut(Schema):
    level: str
    code: str
    name: str


class MicroGridOut(Schema):
    id: int
    code: str
    name: str


class LocateOut(Schema):
    found: bool
    lat: float
    lon: float
    grid_id: int | None = None
    grid_code: str | None = None
    grid_name: str | None = None
    micro_grid: MicroGridOut | None = None
    ancestors: list[RegionOut]
    reason: str | None = None


class GridFilter(Schema):
    region: str | None = None


class LocateQuery(Schema):
    # The bounds are documented for clients and fuzzers; locate() itself refuses a point out
    # of range with its own error code (coordinates_out_of_range).
    lat: float = Field(..., json_schema_extra={"minimum": -90, "maximum": 90})
    lon: float = Field(..., json_schema_extra={"minimum": -180, "maximum": 180})
    crs: str = Field(geo.WGS84, max_length=20)


@router.get("/grids", response=FeatureCollectionOut, summary="网格 (GeoJSON FeatureCollection)")
def list_grids(request, filters: Query[GridFilter]):
    """Grids and micro-grids within the user's jurisdiction, optionally under a region code."""
    return services.export_grids(filters.region or None, grids=services.grids_visible_to(request.auth))


@router.get("/grids/{code}", response=FeatureOut, summary="一个网格 (GeoJSON Feature)")
def get_grid(request, code: str):
    """One grid with its micro-grids; 404 when it does not exist for this user."""
    grid = services.grids_visible_to(request.auth).filter(code=code).first() if code.isdigit() else None
    if grid is None:
        raise NotFound(f"网格 {code} 不存在", f"No grid {code}")
    return services.grid_feature(grid, micro_grids=True)


@router.get("/locate", response=LocateOut, summary="坐标所在网格")
def locate_point(request, q: Query[LocateQuery]):
    """The grid (and micro-grid) at a point given in WGS-84, GCJ-02 or BD-09; a point in no
    grid of the user's jurisdiction answers ``found: false``."""
    return locate.locate_for(request.auth, q.lat, q.lon, crs=q.crs).as_dict()
