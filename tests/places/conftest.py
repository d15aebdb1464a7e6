"""A small synthetic territory: one city, district and street, three communities (two with
a boundary), and a few Voronoi grids inside each bounded community."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from gridgov.accounts.models import User
from gridgov.places.models import Region, RegionLevel

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")

BOX_A = (118.50, 24.90, 118.52, 24.92)  # 金山社区
BOX_B = (118.52, 24.90, 118.54, 24.92)  # 笋浯社区


def box(*bounds) -> dict:
    return mapping(shapely.box(*bounds))


def voronoi(bounds, n: int, seed: int = 1) -> list:
    """n Voronoi polygons filling the box, ordered by seed point."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    seeds = shapely.points(rng.uniform(x0, x1, n), rng.uniform(y0, y1, n))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=shapely.box(*bounds)))
    cells = shapely.intersection(cells, shapely.box(*bounds))
    # voronoi_polygons does not keep the seed order: match each cell to its seed
    return [cells[int(np.flatnonzero(shapely.contains(cells, s))[0])] for s in seeds]


def feature(geom, **properties) -> dict:
    return {"type": "Feature", "geometry": mapping(geom) if not isinstance(geom, dict) else geom, "properties": properties}


def collection(features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


@dataclass
class Territory:
    city: Region
    district: Region
    street: Region
    a: Region
    b: Region
    bare: Region  # a community without a boundary
    users: dict = field(default_factory=dict)


@pytest.fixture
def territory(db) -> Territory:
    city = Region.objects.create(code="350500", name="泉州市", level=RegionLevel.CITY)
    district = Region.objects.create(code="350502", name="鲤城区", level=RegionLevel.DISTRICT, parent=city)
    street = Region.objects.create(code="350502001", name="海滨街道", level=RegionLevel.STREET, parent=district)
    a = Region.objects.create(code="350502001001", name="金山社区", level=RegionLevel.COMMUNITY, parent=street, geometry=box(*BOX_A))
    b = Region.objects.create(code="350502001002", name="笋浯社区", level=RegionLevel.COMMUNITY, parent=street, geometry=box(*BOX_B))
    bare = Region.objects.create(code="350502001003", name="水门社区", level=RegionLevel.COMMUNITY, parent=street)
    return Territory(city, district, street, a, b, bare)


def grid_collection(n_a: int = 4, n_b: int = 3) -> dict:
    """Coded grids: n_a Voronoi cells in 金山, n_b in 笋浯, each with two micro-grids in the first grid."""
    features = []
    for community, bounds, n, seed in (("350502001001", BOX_A, n_a, 1), ("350502001002", BOX_B, n_b, 2)):
        for i, cell in enumerate(voronoi(bounds, n, seed), start=1):
            code = f"{community}{i:03d}"
            features.append(feature(cell, code=code, name=f"第{i}网格", kind="community", households=300 + 10 * i))
    first = shapely.geometry.shape(features[0]["geometry"])
    minx, miny, maxx, maxy = first.bounds
    halves = [shapely.box(minx, miny, (minx + maxx) / 2, maxy), shapely.box((minx + maxx) / 2, miny, maxx, maxy)]
    for j, half in enumerate(halves, start=1):
        part = shapely.intersection(first, half)
        features.append(feature(part, grid_code="350502001001001", code=f"350502001001001{j:03d}", name=f"{j}号楼", households=40))
    return collection(features)


@pytest.fixture
def grids(territory):
    from gridgov.places import services

    services.import_grids(grid_collection())
    return territory


@pytest.fixture
def users(grids):
    from gridgov.places.models import Grid

    t = grids
    t.users = {
        "admin": User.objects.create_superuser("admin", "admin@example.org", "Test-pass-2026", must_change_password=False),
        "street": User.objects.create_user("street", password="Test-pass-2026", must_change_password=False, role="dispatcher", region=t.street),
        "community_b": User.objects.create_user("community_b", password="Test-pass-2026", must_change_password=False, role="community_staff", region=t.b),
        "worker": User.objects.create_user("worker", password="Test-pass-2026", must_change_password=False, role="grid_worker",  # pragma: allowlist secret
                                           grid=Grid.objects.get(code="350502001001002")),
        "nobody": User.objects.create_user("nobody", password="Test-pass-2026", must_change_password=False, role="resident"),
    }
    return t
