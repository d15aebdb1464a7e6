"""Building the demo city in one go: territory, calendar, categories, departments and
matrix, people, and case history — all or nothing, in one transaction."""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count

from . import geography
from .categories import seed_categories
from .history import generate_history
from .organisation import seed_departments, seed_matrix
from .people import DEMO_PASSWORD, seed_people

DEFAULT_SEED = 2026
DEFAULT_CASES = {"small": 300, "city": 2500}


@dataclass
class DemoResult:
    size: str
    seed: int
    counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)
    logins: list = field(default_factory=list)
    otp_secret: str = ""
    otp_uri: str = ""
    failures: list = field(default_factory=list)
    sweep: dict = field(default_factory=dict)


def territory_exists() -> bool:
    from gridgov.places.models import Region

    return Region.objects.exists()


def _ensure_calendar() -> None:
    try:
        from gridgov.cases.calendar import ensure_calendar
    except ImportError:  # the calendar module came later; deadlines then count weekends only
        return
    ensure_calendar()


@transaction.atomic
def build_demo(size: str = "small", *, seed: int = DEFAULT_SEED, cases: int | None = None, progress=None) -> DemoResult:
    """Build the demo city of ``size`` ("small" or "city") into an empty database."""
    from gridgov.accounts.models import User
    from gridgov.cases.models import Case, Category, Department, ResponsibilityRule

    if size not in geography.SIZES:
        raise ValueError(f"unknown demo size {size!r}; use one of {', '.join(geography.SIZES)}")
    result = DemoResult(size, seed)
    say = progress or (lambda message: None)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[name] = round(now - clock, 2)
        clock = now

    say("生成区划与网格边界 / generating the territory…")
    plan = geography.generate(size, seed)
    lap("territory_generate")
    result.counts.update(geography.save(plan))
    lap("territory_save")
    _ensure_calendar()
    seed_categories()
    result.counts["departments"] = seed_departments(seed)
    seed_matrix()
    lap("organisation")
    say("创建演示账号 / creating the people…")
    people = seed_people(seed)
    result.logins = people.logins
    result.otp_secret, result.otp_uri = people.otp_secret, people.otp_uri
    lap("people")
    count = DEFAULT_CASES[size] if cases is None else max(0, int(cases))
    say(f"生成{count}件案件的办理历史 / replaying {count} cases through the case loop…")
    if count:
        history = generate_history(people, count=count, seed=seed)
        result.failures, result.sweep = history.failures, history.sweep
    lap("history")
    result.counts.update({
        "categories": Category.objects.count(), "matrix_rules": ResponsibilityRule.objects.count(),
        "users": User.objects.count(), "cases": Case.objects.count(), "departments": Department.objects.count(),
    })
    result.statuses = dict(Case.objects.values_list("status").annotate(n=Count("id")).order_by("status"))
    result.timings["total"] = round(sum(result.timings.values()), 2)
    return result


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def format_table(rows: list[tuple], header: tuple) -> str:
    """A plain-text table that lines up with Chinese text in a terminal."""
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(_pad(str(h), w) for h, w in zip(header, widths)), line]
    out += ["  ".join(_pad(str(c), w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def format_logins(logins: list[tuple], otp_secret: str = "", otp_uri: str = "") -> str:
    table = format_table(logins, ("用户名 username", "角色 role", "辖区 jurisdiction"))
    text = f"{table}\n\n所有演示账号的密码 / password of every demo account: {DEMO_PASSWORD}"
    if otp_secret:
        text += (f"\n调度员、领导和管理员须双因素登录，验证器密钥（所有演示账号相同）"
                 f" / TOTP secret of every demo account that needs a second factor: {otp_secret}\n{otp_uri}")
    return text
