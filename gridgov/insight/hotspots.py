"""Hot spots (热点): where cases of one category cluster, grid by grid, over a time window.

Counting without scanning the case table
    Requests and the surge rule count cases per (grid, category) over windows of days to
    weeks. They read the daily rollup `CaseDayCount` for every whole local day (Asia/Shanghai)
    up to `RollupState.built_through`, and the case table — through its index on
    `reported_at`, a range of at most a day or so — only for the part of the window after it
    and for partial days at the window's edges. The cost of a request therefore grows with
    the number of (day, grid, category) cells in the window and the jurisdiction, never with
    the size of the case table. The rollup is rewritten for the last
    ``INSIGHT["ROLLUP_REFRESH_DAYS"]`` days by each scan (cases get their category at
    acceptance, a day or two after the report); a change to an older case (a corrected
    location) reaches the rollup with ``gridgov insight scan --rebuild-rollup``.

Ranking
    A hot spot is one (grid, category) cell with at least ``min_cases`` cases in the window.
    Cells are ranked by their count, then by the growth against the window before
    (``previous``), so the leader sees first where most is happening and, among equals, what
    is growing. Each carries its most recent cases as representatives.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from gridgov.accounts.scoping import path_scope_q
from gridgov.cases.models import Case, Category
from gridgov.places.models import Grid, Region

from .models import CaseDayCount, HotspotCell, RollupState

LOCAL = ZoneInfo("Asia/Shanghai")

DEFAULTS = {
    "HOTSPOT_WINDOW_DAYS": 30,
    "HOTSPOT_MIN_CASES": 3,
    "ROLLUP_REFRESH_DAYS": 7,
    "SCAN_INTERVAL_SECONDS": 900,
}
REPRESENTATIVES = 3


def conf(name: str):
    """An insight setting: settings.GRIDGOV["INSIGHT"][name], else the default here."""
    return ((getattr(settings, "GRIDGOV", {}) or {}).get("INSIGHT") or {}).get(name, DEFAULTS[name])


def local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL)


def local_date(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL).date()


# --- the rollup ------------------------------------------------------------------------


def _locked_state() -> RollupState:
    """The one RollupState row, created if missing, locked until the transaction ends."""
    state = RollupState.objects.order_by("pk").first() or RollupState.objects.create()
    return RollupState.objects.select_for_update().get(pk=state.pk)


def built_through() -> dt.date | None:
    state = RollupState.objects.order_by("pk").values_list("built_through", flat=True).first()
    return state


def _write_days(first: dt.date, last: dt.date) -> int:
    """Rewrite the rollup rows of the days first..last from the case table."""
    start, end = local_day_start(first), local_day_start(last + dt.timedelta(days=1))
    # Rows are read through the reported_at index and counted here: a GROUP BY in SQL
    # tempts SQLite's planner into walking a whole index in group order instead.
    counts: Counter = Counter()
    rows = (Case.objects.filter(reported_at__gte=start, reported_at__lt=end).order_by()
            .values_list("reported_at", "scope_path", "region_id", "grid_id", "category_id"))
    for reported_at, *place in rows.iterator(chunk_size=10_000):
        counts[(local_date(reported_at), *place)] += 1
    cells = [
        CaseDayCount(day=day, scope_path=path, region_id=region_id, grid_id=grid_id, category_id=category_id, cases=n)
        for (day, path, region_id, grid_id, category_id), n in counts.items()
    ]
    CaseDayCount.objects.filter(day__gte=first, day__lte=last).delete()
    CaseDayCount.objects.bulk_create(cells, batch_size=2000)
    return len(cells)


def refresh_rollup(*, at: dt.datetime | None = None, days: int | None = None, rebuild: bool = False) -> dict:
    """Rewrite the rollup for the recent days (or every day with `rebuild`), up to the day
    before `at`. Serialised by a row lock on `RollupState`: two workers never interleave."""
    at = at or timezone.now()
    last = local_date(at) - dt.timedelta(days=1)
    days = conf("ROLLUP_REFRESH_DAYS") if days is None else days
    with transaction.atomic():
        state = _locked_state()
        if state.built_through is None or rebuild:
            first = Case.objects.order_by("reported_at").values_list("reported_at", flat=True).first()
            start = local_date(first) if first else last + dt.timedelta(days=1)
            if rebuild:
                CaseDayCount.objects.all().delete()
        else:
            start = min(state.built_through + dt.timedelta(days=1), last - dt.timedelta(days=days - 1))
        day, written, cells = start, 0, 0
        while day <= last:  # a month at a time bounds the memory of a first build
            until = min(last, day + dt.timedelta(days=30))
            cells += _write_days(day, until)
            written += (until - day).days + 1
            day = until + dt.timedelta(days=1)
        # With no case at all the rollup stays unbuilt, so that cases imported later with
        # past dates are counted from the case table until the first real build.
        if cells or state.built_through is not None:
            if state.built_through is None or last > state.built_through or rebuild:
                state.built_through = last
        elif rebuild:
            state.built_through = None
        state.refreshed_at = timezone.now()
        state.save()
    through = state.built_through.isoformat() if state.built_through else None
    return {"from": start.isoformat() if written else None, "through": through, "days": written, "cells": cells}


# --- counting --------------------------------------------------------------------------


Key = tuple[int | None, int | None]  # (grid_id, category_id)


GRID_CATEGORY = ("grid_id", "category_id")
# Everything a snapshot row needs: the node for scoping, the grid or region, the category.
PLACE_CATEGORY = ("scope_path", "region_id", "grid_id", "category_id")


def cell_counts(since: dt.datetime, until: dt.datetime, *, scope: Q | None = None, category_ids=None,
                keys: set | None = None, group: tuple[str, ...] = GRID_CATEGORY) -> Counter:
    """Cases reported in [since, until) per cell — the values of the `group` columns,
    (grid_id, category_id) by default — from the rollup's whole days and the case table's rest.

    `scope` filters on `scope_path` (a jurisdiction); `category_ids` and `keys` narrow the
    cells (the surge rule asks for the baseline of a few cells only)."""
    counts: Counter = Counter()
    if until <= since:
        return counts
    through = built_through()
    first_full = local_date(since) if local_day_start(local_date(since)) == since else local_date(since) + dt.timedelta(days=1)
    last_full = local_date(until) - dt.timedelta(days=1)  # the day before the one `until` falls in
    if through is not None:
        last_full = min(last_full, through)
    live_ranges = []
    if through is None or first_full > last_full:
        live_ranges.append((since, until))
    else:
        live_ranges.append((since, local_day_start(first_full)))
        live_ranges.append((local_day_start(last_full + dt.timedelta(days=1)), until))
        q = Q(day__gte=first_full, day__lte=last_full)
        counts.update(_aggregate(CaseDayCount.objects.filter(q), group, "cases", scope, category_ids, keys))
    for lo, hi in live_ranges:
        if hi > lo:
            q = Q(reported_at__gte=lo, reported_at__lt=hi)
            counts.update(_aggregate(Case.objects.filter(q), group, None, scope, category_ids, keys))
    return counts


def _aggregate(qs, group: tuple[str, ...], summed: str | None, scope, category_ids, keys) -> Counter:
    if scope is not None:
        qs = qs.filter(scope)
    if category_ids is not None:
        qs = qs.filter(category_id__in=list(category_ids))
    # `keys` are tested here, not in SQL: a list of grids in the WHERE clause tempts the
    # planner into the grid index (every day of those grids) instead of the day range.
    rows = qs.order_by().values_list(*group).annotate(n=Sum(summed) if summed else Count("id"))
    out: Counter = Counter()
    for *key, n in rows:
        key = tuple(key)
        if keys is None or key in keys:
            out[key] += n
    return out


# --- hot spots -------------------------------------------------------------------------


@dataclass
class Hotspot:
    grid: Grid | None
    region: Region
    category: Category | None
    count: int
    previous: int
    cases: list

    @property
    def change(self) -> float | None:
        return None if not self.previous else round((self.count - self.previous) / self.previous, 3)


def window(at: dt.datetime | None, days: int) -> tuple[dt.datetime, dt.datetime]:
    """The window of `days` ending at `at` (default now)."""
    until = at or timezone.now()
    return until - dt.timedelta(days=days), until


def _scope(user, within: str | None) -> Q:
    scope = path_scope_q(user, "scope_path")
    return scope & Q(scope_path__startswith=within) if within else scope


# --- the snapshot of the default window --------------------------------------------------


def refresh_snapshot(*, at: dt.datetime | None = None) -> dict:
    """Rewrite `HotspotCell` with the default window ending at `at` (the scan calls it)."""
    days = conf("HOTSPOT_WINDOW_DAYS")
    since, until = window(at, days)
    current = cell_counts(since, until, group=PLACE_CATEGORY)
    previous = cell_counts(since - (until - since), since, group=PLACE_CATEGORY, keys=set(current)) if current else {}
    # The representatives of every cell, in one backward pass over the window's cases
    # (requests would otherwise look them up cell by cell through the grid index).
    recent: dict[tuple, list[int]] = {}
    rows = (Case.objects.filter(reported_at__gte=since, reported_at__lt=until, grid__isnull=False).order_by("-reported_at", "-id")
            .values_list("id", "grid_id", "category_id"))
    for pk, grid_id, category_id in rows.iterator(chunk_size=10_000):
        ids = recent.setdefault((grid_id, category_id), [])
        if len(ids) < REPRESENTATIVES:
            ids.append(pk)
    cells = [
        HotspotCell(scope_path=path, region_id=region_id, grid_id=grid_id, category_id=category_id, cases=n,
                    previous=previous.get((path, region_id, grid_id, category_id), 0),
                    recent=recent.get((grid_id, category_id), []) if grid_id else [])
        for (path, region_id, grid_id, category_id), n in current.items()
    ]
    with transaction.atomic():
        state = _locked_state()
        HotspotCell.objects.all().delete()
        HotspotCell.objects.bulk_create(cells, batch_size=2000)
        state.snapshot_until, state.snapshot_days = until, days
        state.save(update_fields=["snapshot_until", "snapshot_days"])
    return {"cells": len(cells), "until": until.isoformat(), "days": days}


def _snapshot_until(days: int, at: dt.datetime | None) -> dt.datetime | None:
    """The snapshot's end when it answers this request: the default window, asked for now,
    and taken within two scan intervals."""
    if at is not None:
        return None
    row = RollupState.objects.order_by("pk").values("snapshot_until", "snapshot_days").first()
    if not row or row["snapshot_until"] is None or row["snapshot_days"] != days:
        return None
    age = timezone.now() - row["snapshot_until"]
    return row["snapshot_until"] if dt.timedelta(0) <= age <= dt.timedelta(seconds=2 * conf("SCAN_INTERVAL_SECONDS")) else None


def _from_snapshot(scope: Q, cat_ids, min_cases: int, limit: int):
    cells = HotspotCell.objects.filter(scope)
    if cat_ids is not None:
        cells = cells.filter(category_id__in=list(cat_ids))
    totals = cells.aggregate(total=Sum("cases"), ungridded=Sum("cases", filter=Q(grid__isnull=True)),
                             hot=Count("id", filter=Q(grid__isnull=False, cases__gte=min_cases)))
    top = list(cells.filter(grid__isnull=False, cases__gte=min_cases).annotate(growth=F("cases") - F("previous"))
               .order_by("-cases", "-growth", "grid_id", "category_id")
               .values_list("grid_id", "category_id", "cases", "previous", "recent")[:limit])
    ranked = [((g, c), n) for g, c, n, _, _ in top]
    previous = {(g, c): p for g, c, _, p, _ in top}
    recent = {(g, c): ids for g, c, _, _, ids in top}
    return ranked, previous, totals["total"] or 0, totals["ungridded"] or 0, totals["hot"], recent


def _computed(scope: Q, cat_ids, min_cases: int, limit: int, since, until):
    current = cell_counts(since, until, scope=scope, category_ids=cat_ids)
    cells = [(k, n) for k, n in current.items() if k[0] is not None and n >= min_cases]
    previous = cell_counts(since - (until - since), since, scope=scope, category_ids=cat_ids, keys={k for k, _ in cells}) if cells else {}
    cells.sort(key=lambda kn: (-kn[1], -(kn[1] - previous.get(kn[0], 0)), kn[0][0], kn[0][1] or 0))
    ungridded = sum(n for k, n in current.items() if k[0] is None)
    return cells[:limit], previous, sum(current.values()), ungridded, len(cells), None


def hotspots(user, *, days: int | None = None, at: dt.datetime | None = None, category: Category | None = None,
             within: str | None = None, min_cases: int | None = None, limit: int = 20,
             representatives: int = REPRESENTATIVES) -> tuple[list[Hotspot], dict]:
    """The ranked hot spots in the user's jurisdiction (narrowed to the node whose path is
    `within`), and the window's totals. The default window asked for now is read from the
    last scan's snapshot while it is fresh; anything else is counted."""
    days = days or conf("HOTSPOT_WINDOW_DAYS")
    min_cases = conf("HOTSPOT_MIN_CASES") if min_cases is None else min_cases
    scope = _scope(user, within)
    cat_ids = _category_ids(category)
    snapshot = _snapshot_until(days, at)
    if snapshot is not None:
        since, until = window(snapshot, days)
        top, previous, total, ungridded, count, recent = _from_snapshot(scope, cat_ids, min_cases, limit)
    else:
        since, until = window(at, days)
        top, previous, total, ungridded, count, recent = _computed(scope, cat_ids, min_cases, limit, since, until)
    grids = Grid.objects.defer("geometry").select_related("region").defer("region__geometry").in_bulk([k[0] for k, _ in top])
    cats = Category.objects.in_bulk([k[1] for k, _ in top if k[1] is not None])
    fields = ("number", "title", "status", "reported_at", "address", "lat", "lon")
    known = {}
    if recent is not None and representatives:  # the snapshot knows them: one lookup by id
        ids = [pk for key, _ in top for pk in recent.get(key, [])[:representatives]]
        known = Case.objects.only(*fields).in_bulk(ids)
    out = []
    for (grid_id, cat_id), n in top:
        reps = []
        if recent is not None:
            reps = [known[pk] for pk in recent.get((grid_id, cat_id), [])[:representatives] if pk in known]
        elif representatives:
            reps = list(
                Case.objects.filter(grid_id=grid_id, category_id=cat_id, reported_at__gte=since, reported_at__lt=until)
                .order_by("-reported_at", "-id")
                .only(*fields)[:representatives]
            )
        grid = grids[grid_id]
        out.append(Hotspot(grid=grid, region=grid.region, category=cats.get(cat_id), count=n,
                           previous=previous.get((grid_id, cat_id), 0), cases=reps))
    totals = {"since": since, "until": until, "days": days, "cases": total, "ungridded_cases": ungridded, "hotspots": count,
              "source": "snapshot" if snapshot is not None else "counted"}
    return out, totals


def grid_layer(user, *, days: int | None = None, at: dt.datetime | None = None, category: Category | None = None,
               within: str | None = None, geometry: str = "point") -> dict:
    """A GeoJSON FeatureCollection of the grids in the user's jurisdiction that had cases in
    the window: a centre point (bounding-box centre, no polygon read) or the polygon, with
    the count and the top categories."""
    days = days or conf("HOTSPOT_WINDOW_DAYS")
    scope, cat_ids = _scope(user, within), _category_ids(category)
    snapshot = _snapshot_until(days, at)
    if snapshot is not None:
        since, until = window(snapshot, days)
        cells = HotspotCell.objects.filter(scope, grid__isnull=False)
        if cat_ids is not None:
            cells = cells.filter(category_id__in=list(cat_ids))
        counts = Counter({(g, c): n for g, c, n in cells.values_list("grid_id", "category_id", "cases")})
    else:
        since, until = window(at, days)
        counts = cell_counts(since, until, scope=scope, category_ids=cat_ids)
    per_grid: dict[int, Counter] = {}
    for (grid_id, cat_id), n in counts.items():
        if grid_id is not None:
            per_grid.setdefault(grid_id, Counter())[cat_id] += n
    fields = ["id", "code", "name", "min_lon", "min_lat", "max_lon", "max_lat"] + (["geometry"] if geometry == "polygon" else [])
    grids = Grid.objects.only(*fields).in_bulk(list(per_grid))
    cat_ids = {c for cnt in per_grid.values() for c in cnt if c is not None}
    cats = {c.pk: c for c in Category.objects.filter(pk__in=cat_ids).only("code", "name")}
    features = []
    for grid_id, cnt in sorted(per_grid.items(), key=lambda kv: -sum(kv[1].values())):
        grid = grids.get(grid_id)
        if grid is None:
            continue
        if geometry == "polygon":
            geom = grid.geometry
        else:
            geom = {"type": "Point", "coordinates": [round((grid.min_lon + grid.max_lon) / 2, 6), round((grid.min_lat + grid.max_lat) / 2, 6)]}
        features.append({
            "type": "Feature",
            "geometry": geom,
            "properties": {
                "grid": grid.code, "name": grid.name, "count": sum(cnt.values()),
                "categories": [
                    {"code": cats[c].code if c in cats else None, "name": cats[c].name if c in cats else "未分类", "count": n}
                    for c, n in cnt.most_common(3)
                ],
            },
        })
    return {"type": "FeatureCollection", "features": features,
            "properties": {"since": since.isoformat(), "until": until.isoformat(), "days": days}}


def _category_ids(category: Category | None):
    """The category and its sub-categories (a 大类 counts its 小类)."""
    if category is None:
        return None
    ids, frontier = {category.pk}, [category.pk]
    while frontier:
        frontier = list(Category.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        ids.update(frontier)
    return ids
