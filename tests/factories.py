"""A small world for tests: one city, one district, one street, two communities with two
grids each, departments at each level, categories, a matrix and a user per role."""

import io
from dataclasses import dataclass, field

from PIL import Image

from gridgov.accounts.models import Role, User
from gridgov.cases.models import Category, Department, ResponsibilityRule
from gridgov.places.models import Grid, Region, RegionLevel


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}


def photo(name: str = "p.jpg", color=(200, 30, 30)):
    from django.core.files.uploadedfile import SimpleUploadedFile

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, "JPEG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


@dataclass
class World:
    city: Region
    district: Region
    street: Region
    street2: Region
    community: Region
    community2: Region
    other_community: Region
    grids: list = field(default_factory=list)
    depts: dict = field(default_factory=dict)
    cats: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)


def make_user(username: str, role: str, *, region=None, grid=None, department=None, superuser=False) -> User:
    # An established account: it chose its own password already (no forced change).
    user = User(username=username, role=role, region=region, grid=grid, department=department, display_name=username,
                is_superuser=superuser, is_staff=superuser, must_change_password=False)
    user.set_password("Test-pass-2026")
    user.save()
    return user


def build_world() -> World:
    city = Region.objects.create(code="350500", name="泉州市", level=RegionLevel.CITY)
    district = Region.objects.create(code="350502", name="鲤城区", level=RegionLevel.DISTRICT, parent=city)
    street = Region.objects.create(code="350502001", name="海滨街道", level=RegionLevel.STREET, parent=district)
    street2 = Region.objects.create(code="350502002", name="临江街道", level=RegionLevel.STREET, parent=district)
    community = Region.objects.create(
        code="350502001001", name="金山社区", level=RegionLevel.COMMUNITY, parent=street, geometry=box(118.50, 24.90, 118.52, 24.92)
    )
    community2 = Region.objects.create(
        code="350502001002", name="笋浯社区", level=RegionLevel.COMMUNITY, parent=street, geometry=box(118.52, 24.90, 118.54, 24.92)
    )
    other = Region.objects.create(
        code="350502002001", name="聚宝社区", level=RegionLevel.COMMUNITY, parent=street2, geometry=box(118.54, 24.90, 118.56, 24.92)
    )
    w = World(city, district, street, street2, community, community2, other)
    for i, (comm, lon0) in enumerate([(community, 118.50), (community, 118.51), (community2, 118.52), (other, 118.54)]):
        w.grids.append(
            Grid.objects.create(code=f"{comm.code}{(i % 2) + 1:03d}", name=f"{comm.name}第{(i % 2) + 1}网格", region=comm,
                                geometry=box(lon0, 24.90, lon0 + 0.01, 24.92), households=400)
        )
    w.depts["cg"] = Department.objects.create(code="350502-CG", name="城管局", region=district)
    w.depts["zf"] = Department.objects.create(code="350502001-ZF", name="综合执法队", region=street)
    w.depts["zf2"] = Department.objects.create(code="350502002-ZF", name="综合执法队", region=street2)
    w.depts["wy"] = Department.objects.create(code="350502001001-WY", name="物业办", region=community)
    top = Category.objects.create(code="01", name="市容环境", kind="event")
    w.cats["top"] = top
    w.cats["litter"] = Category.objects.create(code="0101", name="暴露垃圾", parent=top, normal_limit=2, self_resolvable=True)
    w.cats["ad"] = Category.objects.create(code="0102", name="非法小广告", parent=top, normal_limit=1, verification_required=False)
    w.cats["road"] = Category.objects.create(code="02", name="道路破损", normal_limit=5)
    ResponsibilityRule.objects.create(category=top, level=RegionLevel.STREET, department_name="综合执法队")
    ResponsibilityRule.objects.create(category=top, level=RegionLevel.DISTRICT, department_name="城管局")
    u = w.users
    u["admin"] = make_user("admin", Role.SYSTEM_ADMIN, superuser=True)
    u["resident"] = make_user("resident", Role.RESIDENT)
    u["resident2"] = make_user("resident2", Role.RESIDENT)
    u["worker"] = make_user("worker", Role.GRID_WORKER, region=community, grid=w.grids[0])
    u["worker_other"] = make_user("worker_other", Role.GRID_WORKER, region=other, grid=w.grids[3])
    u["staff"] = make_user("staff", Role.COMMUNITY_STAFF, region=community)
    u["dispatcher"] = make_user("dispatcher", Role.DISPATCHER, region=street)
    u["dispatcher2"] = make_user("dispatcher2", Role.DISPATCHER, region=street2)
    u["district_dispatcher"] = make_user("district_dispatcher", Role.DISPATCHER, region=district)
    u["handler"] = make_user("handler", Role.DEPARTMENT_HANDLER, region=street, department=w.depts["zf"])
    u["cg_handler"] = make_user("cg_handler", Role.DEPARTMENT_HANDLER, region=district, department=w.depts["cg"])
    u["handler_other"] = make_user("handler_other", Role.DEPARTMENT_HANDLER, region=street2, department=w.depts["zf2"])
    u["leader"] = make_user("leader", Role.LEADER, region=district)
    u["auditor"] = make_user("auditor", Role.AUDITOR)
    return w


def verified_login(client, user):
    """Sign a test client in as `user` with its second factor done, as after the OTP page:
    the user gets a confirmed TOTP device and the session carries it (django-otp)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
