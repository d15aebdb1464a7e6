"""Places API: grids as GeoJSON, locate a point."""

from ninja import Router

router = Router(tags=["places"])
