"""Chinese map coordinate systems: WGS-84, GCJ-02 and BD-09.

Phones with GPS report WGS-84; Amap, Tencent maps and WeChat report GCJ-02 (the
obfuscated "Mars" coordinates every map published in mainland China must use); Baidu
reports BD-09, a further distortion of GCJ-02. gridgov stores WGS-84 and converts at
the edge with :func:`to_wgs84`.

The forward transforms (WGS-84 → GCJ-02 → BD-09) are the published formulas. They have
no closed-form inverse, so GCJ-02 → WGS-84 and BD-09 → GCJ-02 solve ``forward(x) = y``
by fixed-point iteration; each step shrinks the error about a hundredfold, so a few steps
reach far below a millimetre (a one-step inversion is off by up to a couple of metres).

Every function accepts Python floats or numpy arrays of the same shape; the formulas are
written once and evaluated with :mod:`math` for scalars (fast for one point) or with
:mod:`numpy` for arrays (fast for many).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from gridgov.errors import InvalidInput

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"
CRS_CHOICES = (WGS84, GCJ02, BD09)
_CRS_ALIASES = {
    "wgs84": WGS84, "wgs-84": WGS84, "wgs_84": WGS84, "epsg:4326": WGS84, "gps": WGS84,
    "cgcs2000": WGS84, "epsg:4490": WGS84,  # within about a metre of WGS-84
    "gcj02": GCJ02, "gcj-02": GCJ02, "gcj_02": GCJ02, "gcj": GCJ02, "amap": GCJ02, "mars": GCJ02,
    "bd09": BD09, "bd-09": BD09, "bd_09": BD09, "bd09ll": BD09, "baidu": BD09,
}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formulas.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Iterative inversion: stop when the residual is below this many degrees (≈ 0.01 mm).
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_STEPS = 30


def normalise_crs(crs: str | None) -> str:
    """The canonical name (wgs84, gcj02, bd09) of a coordinate system name (None or "" mean
    WGS-84); InvalidInput if unknown."""
    key = (crs if crs not in (None, "") else WGS84).strip().lower() if isinstance(crs, str) or crs is None else None
    if key not in _CRS_ALIASES:
        shown = str(crs)[:40]
        raise InvalidInput(
            f"未知的坐标系：{shown}，可选 wgs84、gcj02、bd09",
            f"Unknown coordinate system {shown!r}; use wgs84, gcj02 or bd09",
            code="unknown_crs",
            details={"crs": shown, "choices": list(CRS_CHOICES)},
        )
    return _CRS_ALIASES[key]


_MATH = SimpleNamespace(sin=math.sin, cos=math.cos, sqrt=math.sqrt, atan2=math.atan2, asin=math.asin, array=False)
_NUMPY = SimpleNamespace(sin=np.sin, cos=np.cos, sqrt=np.sqrt, atan2=np.arctan2, asin=np.arcsin, array=True)


def _m(x: Any) -> SimpleNamespace:
    """The functions to evaluate a formula with: numpy's for arrays, math's for scalars."""
    return _NUMPY if isinstance(x, np.ndarray) else _MATH


def in_china(lat, lon):
    """Whether the GCJ-02 offset applies (the customary rough box around China)."""
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_offset(lat, lon):
    """(dlat, dlon) in degrees that GCJ-02 adds to a WGS-84 point inside China."""
    m = _m(lat)
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * m.sin(6.0 * x * pi) + 20.0 * m.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(abs(x)) + common
    dlat = dlat + (20.0 * m.sin(y * pi) + 40.0 * m.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * m.sin(y / 12.0 * pi) + 320.0 * m.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(abs(x)) + common
    dlon = dlon + (20.0 * m.sin(x * pi) + 40.0 * m.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * m.sin(x / 12.0 * pi) + 300.0 * m.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * m.sin(radlat) ** 2
    sqrtmagic = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * m.cos(radlat) * pi)
    inside = in_china(lat, lon)
    if m.array:
        return np.where(inside, dlat, 0.0), np.where(inside, dlon, 0.0)
    return (dlat, dlon) if inside else (0.0, 0.0)


def wgs84_to_gcj02(lat, lon):
    """WGS-84 → GCJ-02 (the published forward formula)."""
    dlat, dlon = _gcj_offset(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_bd09(lat, lon):
    """GCJ-02 → BD-09 (Baidu's published forward formula)."""
    m = _m(lat)
    z = m.sqrt(lon * lon + lat * lat) + 0.00002 * m.sin(lat * _X_PI)
    theta = m.atan2(lat, lon) + 0.000003 * m.cos(lon * _X_PI)
    return z * m.sin(theta) + 0.006, z * m.cos(theta) + 0.0065


def wgs84_to_bd09(lat, lon):
    """WGS-84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def _invert(forward, lat, lon):
    """Solve forward(p) = (lat, lon) by fixed-point iteration from p = (lat, lon)."""
    is_array = isinstance(lat, np.ndarray)
    p_lat, p_lon = lat, lon
    for _ in range(_INVERSE_MAX_STEPS):
        f_lat, f_lon = forward(p_lat, p_lon)
        e_lat, e_lon = f_lat - lat, f_lon - lon
        p_lat, p_lon = p_lat - e_lat, p_lon - e_lon
        err = max(np.max(np.abs(e_lat), initial=0.0), np.max(np.abs(e_lon), initial=0.0)) if is_array else max(abs(e_lat), abs(e_lon))
        if err < _INVERSE_TOLERANCE_DEG:
            break
    return p_lat, p_lon


def gcj02_to_wgs84(lat, lon):
    """GCJ-02 → WGS-84 by iterative inversion (exact to well under a centimetre)."""
    return _invert(wgs84_to_gcj02, lat, lon)


def bd09_to_gcj02(lat, lon):
    """BD-09 → GCJ-02 by iterative inversion."""
    return _invert(gcj02_to_bd09, lat, lon)


def bd09_to_wgs84(lat, lon):
    """BD-09 → WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def _check_range(lat, lon):
    if isinstance(lat, np.ndarray):
        bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInput(
                f"第 {i + 1} 个坐标超出范围：纬度 {lat[i]}，经度 {lon[i]}",
                f"Coordinate #{i + 1} out of range: lat {lat[i]}, lon {lon[i]}",
                code="coordinates_out_of_range",
                details={"index": i, "lat": float(lat[i]), "lon": float(lon[i])},
            )
        return
    if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidInput(
            f"坐标超出范围：纬度 {lat}，经度 {lon}（纬度 -90～90，经度 -180～180）",
            f"Coordinates out of range: lat {lat}, lon {lon} (lat -90..90, lon -180..180)",
            code="coordinates_out_of_range",
            details={"lat": lat, "lon": lon},
        )


def _as_numbers(lat, lon):
    """Floats (or float arrays) from what a caller passed; InvalidInput if not numbers."""
    try:
        if isinstance(lat, (np.ndarray, list, tuple)) or isinstance(lon, (np.ndarray, list, tuple)):
            lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
            if lat_a.shape != lon_a.shape:
                raise ValueError("shapes differ")
            return lat_a, lon_a
        if isinstance(lat, bool) or isinstance(lon, bool):
            raise TypeError("bool")
        return float(lat), float(lon)
    except (TypeError, ValueError):
        raise InvalidInput(
            "坐标必须是数字（纬度、经度）",
            "Coordinates must be numbers (lat, lon) of the same shape",
            code="coordinates_not_numbers",
        ) from None


_TO_WGS84 = {WGS84: lambda lat, lon: (lat, lon), GCJ02: gcj02_to_wgs84, BD09: bd09_to_wgs84}


def to_wgs84(lat, lon, crs: str = WGS84):
    """(lat, lon) in WGS-84 from a point (or arrays of points) in crs; InvalidInput on an
    unknown crs, non-numeric or out-of-range coordinates."""
    crs = normalise_crs(crs)
    lat, lon = _as_numbers(lat, lon)
    _check_range(lat, lon)
    return _TO_WGS84[crs](lat, lon)


def from_wgs84(lat, lon, crs: str = WGS84):
    """(lat, lon) in crs from a WGS-84 point (or arrays); the inverse of :func:`to_wgs84`."""
    crs = normalise_crs(crs)
    lat, lon = _as_numbers(lat, lon)
    _check_range(lat, lon)
    if crs == GCJ02:
        return wgs84_to_gcj02(lat, lon)
    if crs == BD09:
        return wgs84_to_bd09(lat, lon)
    return lat, lon


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres (scalars or arrays)."""
    m = _NUMPY if any(isinstance(v, np.ndarray) for v in (lat1, lon1, lat2, lon2)) else _MATH
    r = 6371008.8
    p1, p2 = lat1 * math.pi / 180.0, lat2 * math.pi / 180.0
    dp, dl = p2 - p1, (lon2 - lon1) * math.pi / 180.0
    h = m.sin(dp / 2) ** 2 + m.cos(p1) * m.cos(p2) * m.sin(dl / 2) ** 2
    return 2 * r * m.asin(m.sqrt(h))


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) near a latitude (WGS-84 ellipsoid)."""
    phi = math.radians(lat)
    per_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    per_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return per_lon, per_lat


def to_local_metres(geometry, lat0: float | None = None):
    """A Shapely geometry in lon/lat degrees → the same in metres on a plane tangent near
    lat0 (default: its centroid); good for areas and distances within a city."""
    import shapely

    if lat0 is None:
        lat0 = shapely.centroid(geometry).y if not shapely.is_empty(geometry) else 0.0
    kx, ky = metres_per_degree(lat0)
    return shapely.transform(geometry, lambda xy: xy * np.array([kx, ky]))


def area_m2(geometry, lat0: float | None = None) -> float:
    """Area in square metres of a lon/lat polygon (city-sized)."""
    import shapely

    if lat0 is None:
        lat0 = shapely.centroid(geometry).y if not shapely.is_empty(geometry) else 0.0
    kx, ky = metres_per_degree(lat0)
    return float(shapely.area(geometry)) * kx * ky
