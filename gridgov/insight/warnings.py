"""Early-warning rules (预警规则) and the scan that evaluates them.

Each `WarningRule` row names a kind and its parameters (JSON, defaults below); `scan()`
evaluates every enabled rule as of a moment and hands each finding (`Firing`) to
`services.record_firing`, which deduplicates it against the open warnings. The rules:

``surge`` — a category surging in a grid (类别激增), a Poisson test against the cell's own past.
    For one grid × category, let c be the cases reported in the current window of W days
    (``window_days``, 7) and λ the mean count per W-day window over the B windows before it
    (``baseline_windows``, 8: the eight weeks before). If cases arrive independently at a
    steady rate, the count of a window is Poisson(λ); the p-value P(X ≥ c | λ) is how
    surprising c is for this cell. The rule fires when p ≤ ``alpha`` (0.001) and
    c ≥ ``min_cases`` (5, so that 2 cases where there is usually none are not a surge). λ is
    floored at ``min_baseline`` (0.5 per window) because a cell with no past at all would
    make any count infinitely surprising. Severity: p ≤ alpha/1000 high, ≤ alpha/10 medium,
    else low. A lower alpha means fewer, surer warnings; a shorter window reacts faster to a
    sudden spike, a longer one catches a slow build-up.
``repeat_address`` — the same address complaining repeatedly (同一地址重复诉求): at least
    ``min_cases`` (3) cases in ``window_days`` (30) whose normalised addresses are equal
    (``identity.address_key``; addresses shorter than ``min_address_length`` (6) are ignored);
    ``channels`` ([] = all) limits the sources. High at 2 × min_cases.
``repeat_reporter`` — the same person complaining repeatedly (同一人重复诉求): as above,
    grouped by ``identity.reporter_key`` (phone, else account), by default only on the
    channels residents use (``channels``: resident, hotline, walk_in, open311), since a grid
    worker reports many cases on patrol by design.
``escalating_case`` — a dispute that escalates (矛盾升级): an open case reopened, escalated
    and sent back for rework (返工) ``min_count`` (2) times or more in all; ``categories``
    ([] = all, codes include their sub-categories) narrows it to dispute categories. High at
    2 × min_count.
``dispute_cluster`` — repeated reports in a dispute category (纠纷类事件集中): at least
    ``min_cases`` (3) cases of the listed ``categories`` in one grid within ``window_days``
    (14). Without categories the rule has nothing to test and says so.
``overdue_pileup`` — overdue cases piling up in a department (部门超期积压): at least
    ``min_cases`` (10) open cases past their deadline owned by one department; high at
    ``high_cases`` (30).

Every rule also takes ``severity`` (forces one) and ``quiet_hours`` (24): a subject whose
warning was closed less than that long ago is not raised again.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F, Q
from django.utils import timezone

from gridgov.cases.models import Case, Category, Department
from gridgov.errors import InvalidInput
from gridgov.places.models import Grid, Region, RegionLevel

from . import hotspots, identity
from .models import RuleKind, Severity, WarningRule

DEFAULT_PARAMS = {
    RuleKind.SURGE: {"window_days": 7, "baseline_windows": 8, "alpha": 0.001, "min_cases": 5, "min_baseline": 0.5},
    RuleKind.REPEAT_ADDRESS: {"window_days": 30, "min_cases": 3, "min_address_length": 6, "channels": []},
    RuleKind.REPEAT_REPORTER: {"window_days": 30, "min_cases": 3, "channels": ["resident", "hotline", "walk_in", "open311"]},
    RuleKind.ESCALATING_CASE: {"min_count": 2, "categories": []},
    RuleKind.DISPUTE_CLUSTER: {"window_days": 14, "min_cases": 3, "categories": []},
    RuleKind.OVERDUE_PILEUP: {"min_cases": 10, "high_cases": 30},
}
COMMON_PARAMS = {"severity": None, "quiet_hours": 24}
# Cases quoted in a warning's evidence, at most.
EVIDENCE_CASES = 20
OWNER_LEVEL = RegionLevel.STREET  # the command centre that holds cases (INTAKE_LEVEL)


@dataclass
class Firing:
    """One finding of one rule: what the warning would say and where it belongs."""

    rule: WarningRule
    subject_key: str
    severity: str
    title: str
    evidence: dict
    region: Region
    scope_path: str
    owner_region: Region
    grid: Grid | None = None
    category: Category | None = None
    owner_department: Department | None = None
    outcome: str = ""  # set by the scan: new, refreshed, quiet, would_raise
    warning_id: int | None = None


@dataclass
class RuleRun:
    rule: WarningRule
    firings: list[Firing] = field(default_factory=list)
    note: str = ""


def params_of(rule: WarningRule) -> dict:
    """The rule's parameters over the kind's defaults, checked."""
    defaults = {**COMMON_PARAMS, **DEFAULT_PARAMS.get(rule.kind, {})}
    given = rule.params or {}
    if not isinstance(given, dict):
        raise InvalidInput(f"预警规则 {rule.code} 的参数须为对象", f"Rule {rule.code}: params must be an object")
    unknown = set(given) - set(defaults)
    if unknown:
        raise InvalidInput(f"预警规则 {rule.code} 含未知参数：{', '.join(sorted(unknown))}",
                           f"Rule {rule.code}: unknown params {sorted(unknown)}", details={"rule": rule.code})
    merged = {**defaults, **given}
    for name, default in defaults.items():
        value = merged[name]
        if isinstance(default, bool | int | float) and not isinstance(default, bool):
            number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
            if not number or value < 0 or (value == 0 and name != "quiet_hours"):
                raise InvalidInput(f"预警规则 {rule.code} 的参数 {name} 须为正数", f"Rule {rule.code}: {name} must be a positive number",
                                   details={"rule": rule.code, "param": name})
        if isinstance(default, list) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise InvalidInput(f"预警规则 {rule.code} 的参数 {name} 须为文本列表", f"Rule {rule.code}: {name} must be a list of strings",
                               details={"rule": rule.code, "param": name})
    if merged["severity"] is not None and merged["severity"] not in Severity.values:
        raise InvalidInput(f"预警规则 {rule.code} 的严重程度无效", f"Rule {rule.code}: unknown severity",
                           details={"rule": rule.code, "allowed": Severity.values})
    if rule.kind == RuleKind.SURGE and not merged["alpha"] < 1:
        raise InvalidInput(f"预警规则 {rule.code} 的 alpha 须小于1", f"Rule {rule.code}: alpha must be below 1")
    return merged


# --- the statistic ---------------------------------------------------------------------


def poisson_sf(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean): one minus the lower tail, summed in log space."""
    if count <= 0:
        return 1.0
    # Sum the lower tail P(X ≤ count − 1) term by term; for a large count relative to the
    # mean the upper tail is summed directly instead, which keeps tiny p-values exact.
    log_mean = math.log(mean)
    if count > mean:
        total, k, log_term = 0.0, count, count * log_mean - mean - math.lgamma(count + 1)
        while True:
            term = math.exp(log_term)
            total += term
            if term < total * 1e-17 or k > count + 10_000:
                return min(1.0, total)
            k += 1
            log_term += log_mean - math.log(k)
    lower = sum(math.exp(k * log_mean - mean - math.lgamma(k + 1)) for k in range(count))
    return max(0.0, 1.0 - lower)


# --- places and owners -----------------------------------------------------------------


class _Places:
    """Grids, regions and their command-level ancestors, loaded once per scan."""

    def __init__(self):
        self._grids: dict[int, Grid] = {}
        self._regions: dict[int, Region] = {}
        self._owner: dict[str, Region] = {}

    def grid(self, pk: int) -> Grid:
        if pk not in self._grids:
            self._grids[pk] = Grid.objects.defer("geometry").select_related("region").defer("region__geometry").get(pk=pk)
        return self._grids[pk]

    def region(self, pk: int) -> Region:
        if pk not in self._regions:
            self._regions[pk] = Region.objects.defer("geometry").get(pk=pk)
        return self._regions[pk]

    def owner(self, region: Region) -> Region:
        """The street (command level) above a region, or the region itself above streets."""
        if region.path not in self._owner:
            found = Region.objects.defer("geometry").filter(path__in=region.ancestor_paths() + [region.path],
                                                             level=OWNER_LEVEL).first()
            self._owner[region.path] = found or region
        return self._owner[region.path]

    def at(self, *, grid_id, region_id):
        """(grid or None, region, scope path) of a place."""
        if grid_id:
            grid = self.grid(grid_id)
            return grid, grid.region, grid.path
        region = self.region(region_id)
        return None, region, region.path


def _categories(codes: list[str]) -> set[int] | None:
    """Ids of the categories with these codes and everything below them; None = all."""
    if not codes:
        return None
    ids = set()
    for cat in Category.objects.filter(code__in=codes):
        ids |= hotspots._category_ids(cat)
    return ids


def _severity(p: dict, level: str) -> str:
    return p["severity"] or level


def _case_refs(rows) -> list[dict]:
    return [
        {"number": r["number"], "title": r["title"], "reported_at": r["reported_at"].isoformat(), "status": r["status"]}
        for r in sorted(rows, key=lambda r: r["reported_at"], reverse=True)[:EVIDENCE_CASES]
    ]


# --- the rules -------------------------------------------------------------------------


def _surge(rule, p, at, places: _Places) -> RuleRun:
    run = RuleRun(rule)
    width = dt.timedelta(days=p["window_days"])
    since = at - width
    current = hotspots.cell_counts(since, at)
    candidates = {k: n for k, n in current.items() if k[0] is not None and n >= p["min_cases"]}
    if not candidates:
        return run
    windows = int(p["baseline_windows"])
    past = hotspots.cell_counts(since - windows * width, since, keys=set(candidates))
    cats = Category.objects.in_bulk([k[1] for k in candidates if k[1] is not None])
    for (grid_id, cat_id), count in sorted(candidates.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        baseline = past.get((grid_id, cat_id), 0) / windows
        expected = max(baseline, p["min_baseline"])
        pvalue = poisson_sf(count, expected)
        if pvalue > p["alpha"]:
            continue
        grid = places.grid(grid_id)
        cat = cats.get(cat_id)
        level = Severity.HIGH if pvalue <= p["alpha"] / 1000 else Severity.MEDIUM if pvalue <= p["alpha"] / 10 else Severity.LOW
        rows = list(
            Case.objects.filter(grid_id=grid_id, category_id=cat_id, reported_at__gte=since, reported_at__lt=at)
            .values("number", "title", "reported_at", "status")[: EVIDENCE_CASES * 5]
        )
        run.firings.append(Firing(
            rule=rule, subject_key=f"surge:{grid.code}:{cat.code if cat else '-'}", severity=_severity(p, level),
            title=f"{grid.name}“{cat.name if cat else '未分类'}”类事件激增：{p['window_days']}天{count}件（往常约{baseline:.1f}件）",
            evidence={
                "count": count, "expected": round(baseline, 3), "expected_floor": expected, "p_value": pvalue,
                "window_days": p["window_days"], "baseline_windows": windows,
                "baseline_cases": past.get((grid_id, cat_id), 0), "since": since.isoformat(), "until": at.isoformat(),
                "cases": _case_refs(rows),
            },
            region=grid.region, scope_path=grid.path, owner_region=places.owner(grid.region), grid=grid, category=cat,
        ))
    return run


_REPEAT_FIELDS = ("id", "number", "title", "reported_at", "status", "address", "reporter_id", "reporter_phone_bidx",
                  "grid_id", "region_id", "category_id")


def _repeat(rule, p, at, places: _Places, *, by: str) -> RuleRun:
    run = RuleRun(rule)
    since = at - dt.timedelta(days=p["window_days"])
    qs = Case.objects.filter(reported_at__gte=since, reported_at__lt=at)
    if p["channels"]:
        qs = qs.filter(channel__in=p["channels"])
    if by == "address":
        qs = qs.exclude(address="")
    else:
        qs = qs.filter(Q(reporter__isnull=False) | Q(reporter_phone_bidx__gt=""))
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in qs.order_by().values(*_REPEAT_FIELDS).iterator(chunk_size=5000):
        if by == "address":
            key = identity.address_key(row["address"], min_length=int(p["min_address_length"]))
        else:
            key = identity.reporter_key(user_id=row["reporter_id"], phone_index=row["reporter_phone_bidx"])
        if key:
            groups[key].append(row)
    cat_names = {}
    for key, rows in groups.items():
        if len(rows) < p["min_cases"]:
            continue
        latest = max(rows, key=lambda r: (r["reported_at"], r["id"]))
        grid, region, path = places.at(grid_id=latest["grid_id"], region_id=latest["region_id"])
        cats = defaultdict(int)
        for r in rows:
            cats[r["category_id"]] += 1
        missing = [c for c in cats if c is not None and c not in cat_names]
        cat_names.update({c.pk: c.name for c in Category.objects.filter(pk__in=missing)})
        level = Severity.HIGH if len(rows) >= 2 * p["min_cases"] else Severity.MEDIUM
        evidence = {
            "count": len(rows), "expected": p["min_cases"], "window_days": p["window_days"], "since": since.isoformat(),
            "until": at.isoformat(), "cases": _case_refs(rows),
            "categories": {cat_names.get(c, "未分类"): n for c, n in sorted(cats.items(), key=lambda kv: -kv[1])},
        }
        if by == "address":
            evidence["address"] = latest["address"]
            title = f"同一地址{p['window_days']}天内重复诉求{len(rows)}次：{latest['address'][:60]}"
        else:
            # Never the number in clear: the cases themselves show it to whoever may see it.
            # The phone is decrypted for the latest case only, and kept masked.
            phone = identity.normalise_phone(Case.objects.get(pk=latest["id"]).reporter_phone) if latest["reporter_phone_bidx"] else ""
            evidence["reporter"] = (phone[:3] + "****" + phone[-4:]) if len(phone) >= 8 else ("已登录账户" if latest["reporter_id"] else "")
            title = f"同一诉求人{p['window_days']}天内重复诉求{len(rows)}次（{evidence['reporter']}）"
        run.firings.append(Firing(
            rule=rule, subject_key=f"{by}:{identity.blind(key)}", severity=_severity(p, level), title=title,
            evidence=evidence, region=region, scope_path=path, owner_region=places.owner(region), grid=grid,
        ))
    return run


def _escalating(rule, p, at, places: _Places) -> RuleRun:
    run = RuleRun(rule)
    qs = Case.objects.filter(is_open=True).annotate(times=F("reopen_count") + F("escalation_count") + F("rework_count"))
    qs = qs.filter(times__gte=p["min_count"])
    cat_ids = _categories(p["categories"])
    if cat_ids is not None:
        qs = qs.filter(category_id__in=cat_ids)
    for case in qs.select_related("category", "owner_region", "owner_department").defer("owner_region__geometry").order_by("id"):
        grid, region, _ = places.at(grid_id=case.grid_id, region_id=case.region_id)
        level = Severity.HIGH if case.times >= 2 * p["min_count"] else Severity.MEDIUM
        run.firings.append(Firing(
            rule=rule, subject_key=f"case:{case.number}", severity=_severity(p, level),
            title=f"案件{case.number}反复重开/上报{case.times}次：{case.title[:60]}",
            evidence={
                "count": case.times, "expected": p["min_count"], "reopen_count": case.reopen_count,
                "escalation_count": case.escalation_count, "rework_count": case.rework_count,
                "cases": [{"number": case.number, "title": case.title, "reported_at": case.reported_at.isoformat(),
                           "status": case.status}],
            },
            region=region, scope_path=case.scope_path, owner_region=case.owner_region, grid=grid,
            category=case.category, owner_department=case.owner_department,
        ))
    return run


def _dispute_cluster(rule, p, at, places: _Places) -> RuleRun:
    run = RuleRun(rule)
    cat_ids = _categories(p["categories"])
    if cat_ids is None:
        run.note = "no categories configured"
        return run
    since = at - dt.timedelta(days=p["window_days"])
    counts = hotspots.cell_counts(since, at, category_ids=cat_ids)
    cats = Category.objects.in_bulk([k[1] for k in counts])
    for (grid_id, cat_id), count in sorted(counts.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 0)):
        if grid_id is None or count < p["min_cases"]:
            continue
        grid, cat = places.grid(grid_id), cats.get(cat_id)
        rows = list(Case.objects.filter(grid_id=grid_id, category_id=cat_id, reported_at__gte=since, reported_at__lt=at)
                    .values("number", "title", "reported_at", "status")[: EVIDENCE_CASES * 5])
        level = Severity.HIGH if count >= 2 * p["min_cases"] else Severity.MEDIUM
        run.firings.append(Firing(
            rule=rule, subject_key=f"dispute:{grid.code}:{cat.code}", severity=_severity(p, level),
            title=f"{grid.name}“{cat.name}”纠纷{p['window_days']}天内{count}起",
            evidence={"count": count, "expected": p["min_cases"], "window_days": p["window_days"], "since": since.isoformat(),
                      "until": at.isoformat(), "cases": _case_refs(rows)},
            region=grid.region, scope_path=grid.path, owner_region=places.owner(grid.region), grid=grid, category=cat,
        ))
    return run


def _overdue(rule, p, at, places: _Places) -> RuleRun:
    from django.db.models import Count, Min

    run = RuleRun(rule)
    overdue = Case.objects.filter(is_open=True, due_at__lte=at, owner_department__isnull=False)
    rows = overdue.order_by().values("owner_department_id").annotate(n=Count("id"), oldest=Min("due_at"))
    heavy = {r["owner_department_id"]: r for r in rows if r["n"] >= p["min_cases"]}
    depts = Department.objects.select_related("region").defer("region__geometry").in_bulk(list(heavy))
    for dept_id, r in sorted(heavy.items()):
        dept = depts[dept_id]
        sample = list(overdue.filter(owner_department_id=dept_id).order_by("due_at", "id")
                      .values("number", "title", "reported_at", "status", "due_at")[:EVIDENCE_CASES])
        level = Severity.HIGH if r["n"] >= p["high_cases"] else Severity.MEDIUM
        run.firings.append(Firing(
            rule=rule, subject_key=f"dept:{dept.code}", severity=_severity(p, level),
            title=f"{dept}超期未办结案件积压{r['n']}件",
            evidence={
                "count": r["n"], "expected": p["min_cases"], "oldest_due_at": r["oldest"].isoformat(), "at": at.isoformat(),
                "cases": [{"number": s["number"], "title": s["title"], "reported_at": s["reported_at"].isoformat(),
                           "status": s["status"], "due_at": s["due_at"].isoformat()} for s in sample],
            },
            region=dept.region, scope_path=dept.region.path, owner_region=dept.region, owner_department=dept,
        ))
    return run


EVALUATORS = {
    RuleKind.SURGE: _surge,
    RuleKind.REPEAT_ADDRESS: lambda rule, p, at, places: _repeat(rule, p, at, places, by="address"),
    RuleKind.REPEAT_REPORTER: lambda rule, p, at, places: _repeat(rule, p, at, places, by="reporter"),
    RuleKind.ESCALATING_CASE: _escalating,
    RuleKind.DISPUTE_CLUSTER: _dispute_cluster,
    RuleKind.OVERDUE_PILEUP: _overdue,
}


def evaluate(rule: WarningRule, *, at: dt.datetime | None = None) -> RuleRun:
    """What one rule finds as of `at` (default now); writes nothing."""
    at = at or timezone.now()
    return EVALUATORS[rule.kind](rule, params_of(rule), at, _Places())


@dataclass
class ScanResult:
    at: dt.datetime
    dry_run: bool
    runs: list[RuleRun]
    rollup: dict | None = None

    @property
    def firings(self) -> list[Firing]:
        return [f for run in self.runs for f in run.firings]


def scan(*, at: dt.datetime | None = None, dry_run: bool = False, rules=None) -> ScanResult:
    """Evaluate every enabled rule as of `at` and (unless `dry_run`) record the warnings.

    The rollup and the hot-spot snapshot are refreshed first so the rules count from fresh
    data; a dry run writes neither (counts then come from the case table for the days the
    rollup lacks)."""
    from . import services

    at = at or timezone.now()
    if timezone.is_naive(at):
        raise InvalidInput("时间须带时区", "The time must carry a time zone", details={"field": "at"})
    rules = list(rules if rules is not None else WarningRule.objects.filter(enabled=True).order_by("code"))
    for rule in rules:  # check every rule's parameters before anything is written
        params_of(rule)
    rollup = None
    if not dry_run:
        rollup = hotspots.refresh_rollup(at=at)
        rollup["snapshot"] = hotspots.refresh_snapshot(at=at)
    places = _Places()
    runs = []
    for rule in rules:
        run = EVALUATORS[rule.kind](rule, params_of(rule), at, places)
        for firing in run.firings:
            services.record_firing(firing, at=at, dry_run=dry_run)
        runs.append(run)
    return ScanResult(at=at, dry_run=dry_run, runs=runs, rollup=rollup)
