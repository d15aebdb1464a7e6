"""The people of the demo city: an account for every role at every node that needs one
(a grid worker per grid, a dispatcher per command centre, a handler per department…),
with readable demo logins for the first district, street, community and grid.

All demo accounts share one password, ``DEMO_PASSWORD``; it is hashed once and the
hash reused (hashing tens of thousands of times would take minutes, and the password is
public anyway). They are not forced to change it at first sign-in (a demo is for looking
around); accounts created in the admin are.

Roles that must use a second factor (settings.GRIDGOV["MFA_ROLES"]) get a confirmed TOTP
device with one demo secret derived from the seed, printed with the logins: add it once to
an authenticator app and every demo dispatcher, leader and administrator can sign in.
The three administrators (三员分立) are ordinary staff, not superusers: ``sysadmin``
manages accounts and configuration, ``secadmin`` the role table, ``auditor`` reads the log.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from gridgov.accounts.models import Role, User
from gridgov.cases.models import Department
from gridgov.places.models import Grid, Region, RegionLevel

from . import bulk
from .sources import short_name

DEMO_PASSWORD = "Demo-2026"  # demo city only  # noqa: S105  # pragma: allowlist secret  # nosec B105

SURNAMES = "陈林黄王李吴张蔡郑许洪庄苏杨刘施蒋曾谢柯傅颜卢龚郭骆叶潘何"
GIVEN = "志明建国丽娟秀英文杰海燕雅婷晓东伟强美玲俊豪佳慧国华金水阿珠宏伟淑芬振兴晨曦一鸣子涵梓萱泽宇思远嘉怡"


@dataclass
class People:
    """Who acts where, for the history generator; ``logins`` is the printed table."""

    worker: dict[int, User] = field(default_factory=dict)  # grid id → grid worker
    grid_leader: dict[int, User] = field(default_factory=dict)  # community id → 网格长
    staff: dict[int, User] = field(default_factory=dict)  # community id → community staff
    resident: dict[int, list[User]] = field(default_factory=dict)  # community id → residents
    dispatcher: dict[int, User] = field(default_factory=dict)  # street/district/city id → dispatcher
    leader: dict[int, User] = field(default_factory=dict)  # district/city id → leader
    handler: dict[int, User] = field(default_factory=dict)  # department id → handler
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, where
    otp_secret: str = ""  # base32 TOTP secret of every demo account that needs a second factor
    otp_uri: str = ""


def _name(rng) -> str:
    size = 2 if rng.random() < 0.8 else 1
    start = int(rng.integers(0, len(GIVEN) // 2)) * 2
    given = GIVEN[start:start + size] if size == 2 else GIVEN[int(rng.integers(len(GIVEN)))]
    return SURNAMES[int(rng.integers(len(SURNAMES)))] + given


def _mobile(rng) -> str:
    return f"1{int(rng.choice([35, 36, 37, 38, 39, 50, 59, 77, 88, 89]))}{int(rng.integers(0, 10**8)):08d}"


@transaction.atomic
def seed_people(seed: int = 2026) -> People:
    """Create the accounts and return who is who."""
    rng = np.random.default_rng([seed, 11])
    password = make_password(DEMO_PASSWORD)
    now = timezone.now()
    people = People()
    rows: list[tuple[User, str, int]] = []  # user, map name, key

    regions = {r.pk: r for r in Region.objects.defer("geometry").order_by("path")}
    by_level = {level: [r for r in regions.values() if r.level == level] for level in RegionLevel.values}
    grids = list(Grid.objects.only("id", "code", "path", "kind", "region_id").order_by("code"))
    city = by_level[RegionLevel.CITY][0]
    first_district = next(r for r in by_level[RegionLevel.DISTRICT] if any(s.parent_id == r.pk for s in by_level[RegionLevel.STREET]))
    first_street = next(r for r in by_level[RegionLevel.STREET] if r.parent_id == first_district.pk)
    first_community = next(r for r in by_level[RegionLevel.COMMUNITY] if r.parent_id == first_street.pk)
    first_grid = next(g for g in grids if g.region_id == first_community.pk and g.kind != "special")
    first_department = Department.objects.get(region=first_street, name="综合执法队")
    district_department = Department.objects.get(region=first_district, name="城管局")
    named = {
        ("worker", first_grid.pk): "grid_worker", ("grid_leader", first_community.pk): "grid_leader",
        ("staff", first_community.pk): "community_staff", ("dispatcher", first_street.pk): "street_dispatcher",
        ("dispatcher", first_district.pk): "district_dispatcher", ("dispatcher", city.pk): "city_dispatcher",
        ("leader", city.pk): "leader", ("handler", first_department.pk): "dept_handler",
        ("handler", district_department.pk): "district_handler",
    }

    def add(kind: str, key: int, username: str, role: str, **where) -> None:
        username = named.get((kind, key), username)
        user = User(username=username, role=role, password=password, display_name=_name(rng), phone=_mobile(rng),
                    must_change_password=False, password_changed_at=now, **where)
        rows.append((user, kind, key))

    add("dispatcher", city.pk, f"sd{city.code}", Role.DISPATCHER, region=city)
    add("leader", city.pk, f"ld{city.code}", Role.LEADER, region=city)
    for region in by_level[RegionLevel.DISTRICT] + by_level[RegionLevel.STREET]:
        if region.level == RegionLevel.DISTRICT:
            add("leader", region.pk, f"ld{region.code}", Role.LEADER, region=region)
        add("dispatcher", region.pk, f"sd{region.code}", Role.DISPATCHER, region=region)
    for community in by_level[RegionLevel.COMMUNITY]:
        add("grid_leader", community.pk, f"gl{community.code}", Role.GRID_LEADER, region=community)
        add("staff", community.pk, f"cs{community.code}", Role.COMMUNITY_STAFF, region=community)
        for n in (1, 2):
            add("resident", community.pk, f"r{community.code}-{n}", Role.RESIDENT, region=community)
    for grid in grids:
        grid.region = regions[grid.region_id]
        add("worker", grid.pk, f"gw{grid.code}", Role.GRID_WORKER, region=grid.region, grid=grid)
    for department in Department.objects.order_by("code"):
        department.region = regions[department.region_id]
        add("handler", department.pk, f"dh{department.code}", Role.DEPARTMENT_HANDLER, region=department.region, department=department)
    # A resident's first account in the first community is the readable "resident".
    for user, kind, key in rows:
        if kind == "resident" and key == first_community.pk and user.username.endswith("-1"):
            user.username = "resident"
            break

    bulk.insert(User, [u for u, _, _ in rows], key="username")
    for user, kind, key in rows:
        if kind == "resident":
            people.resident.setdefault(key, []).append(user)
        else:
            getattr(people, kind)[key] = user

    admins = [
        User(username=username, role=role, password=password, display_name=_name(rng), is_staff=True,
             must_change_password=False, password_changed_at=now)
        for username, role in (("sysadmin", Role.SYSTEM_ADMIN), ("secadmin", Role.SECURITY_ADMIN), ("auditor", Role.AUDITOR))
    ]
    User.objects.bulk_create(admins)
    people.otp_secret, people.otp_uri = _seed_totp(seed)

    where = {
        "city": city.name, "district": f"{first_district.name}", "street": f"{first_district.name}{first_street.name}",
        "community": f"{first_street.name}{short_name(first_community.name)}", "grid": f"{first_grid.name}（{first_grid.code}）",
    }
    people.logins = [
        ("resident", str(Role.RESIDENT.label), where["community"]),
        ("grid_worker", str(Role.GRID_WORKER.label), where["grid"]),
        ("grid_leader", str(Role.GRID_LEADER.label), where["community"]),
        ("community_staff", str(Role.COMMUNITY_STAFF.label), where["community"]),
        ("street_dispatcher", "街道综治中心调度员", where["street"]),
        ("district_dispatcher", "区网格化服务管理中心调度员", where["district"]),
        ("city_dispatcher", "市网格化服务管理中心调度员", where["city"]),
        ("dept_handler", str(Role.DEPARTMENT_HANDLER.label), f"{where['street']}{first_department.name}"),
        ("district_handler", str(Role.DEPARTMENT_HANDLER.label), f"{first_district.name}{district_department.name}"),
        ("leader", str(Role.LEADER.label), where["city"]),
        ("auditor", str(Role.AUDITOR.label), "全系统（仅审计日志）"),
        ("sysadmin", str(Role.SYSTEM_ADMIN.label), "全系统（账号与配置）"),
        ("secadmin", str(Role.SECURITY_ADMIN.label), "全系统（角色权限）"),
    ]
    return people


def _seed_totp(seed: int) -> tuple[str, str]:
    """A confirmed TOTP device, all with one secret, for every account of a 2FA role."""
    key = hashlib.sha256(f"gridgov-demo-totp-{seed}".encode()).digest()[:20]
    mfa_roles = set(settings.GRIDGOV["MFA_ROLES"])
    users = User.objects.filter(role__in=mfa_roles).values_list("pk", flat=True)
    TOTPDevice.objects.bulk_create([TOTPDevice(user_id=pk, name="demo", key=key.hex(), confirmed=True) for pk in users])
    secret = base64.b32encode(key).decode().rstrip("=")
    uri = f"otpauth://totp/gridgov-demo?secret={secret}&issuer=gridgov-demo&algorithm=SHA1&digits=6&period=30"
    return secret, uri
