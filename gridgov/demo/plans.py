"""Plans of the demo cases: for each case, what it is (where, which category, who
reported it, what text) and which steps of the loop happen to it at which moment.

Every state of the loop is planned: reported, accepted, dispatched, in handling,
returned, handled, long-standing, closed, evaluated, rejected, merged, self-resolved,
with rework, returns, extensions, supervision and escalation on the way. Open cases are
placed in time so that their deadline — computed by the SLA clock from the acceptance
moment — is still running, in its warning share, or passed, as planned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import shape

from gridgov.cases import sla
from gridgov.cases.choices import Channel, SlaState, Urgency

from . import shapes, texts
from .sources import is_village, short_name

M, H, D = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
ZONE = ZoneInfo("Asia/Shanghai")

# outcome → share of the cases (each outcome gets at least one case).
OUTCOMES = {
    "evaluated": 0.22, "closed": 0.15, "rework": 0.05, "returned_closed": 0.04, "escalated": 0.04, "community": 0.06,
    "self_resolved": 0.08, "rejected": 0.04, "merged": 0.04, "not_resolvable": 0.01, "not_ours": 0.01,
    "reported": 0.04, "accepted": 0.03, "dispatched": 0.04, "in_handling": 0.07, "returned": 0.02, "handled": 0.04,
    "long_standing": 0.02, "overdue_handling": 0.02, "overdue_handled": 0.01,
}
OPEN_OUTCOMES = {"accepted", "dispatched", "in_handling", "returned", "handled", "overdue_handling", "overdue_handled"}
CHANNELS = {Channel.PATROL: 0.40, Channel.RESIDENT: 0.25, Channel.HOTLINE: 0.22, Channel.VIDEO: 0.06, Channel.WALK_IN: 0.07}
VIDEO_CATEGORIES = ("E0504", "E0502", "E0501", "E0102", "E0505")
CLOSING = {"close", "self_resolve", "reject", "merge", "hang"}  # steps after which a case takes no duplicates
RATINGS = ([5, 4, 3, 2, 1], [0.55, 0.25, 0.1, 0.06, 0.04])


@dataclass
class Place:
    grid: object  # places.Grid
    polygon: object  # its shapely polygon
    community: object
    street: object
    village: bool
    label: str  # the community's everyday name ("金山社区")


@dataclass
class Plan:
    index: int
    outcome: str
    place: Place
    category: object
    urgency: str
    channel: str
    title: str
    description: str
    address: str
    lat: float
    lon: float
    reporter_name: str = ""
    reporter_phone: str = ""
    steps: list = field(default_factory=list)  # (moment, action, options)
    case: object = None

    @property
    def reported_at(self):
        return self.steps[0][0]

    @property
    def ends_at(self):
        return self.steps[-1][0]


def places_of(grids) -> list[Place]:
    """Places cases can happen in, from grids with region and region.parent loaded."""
    found = []
    for grid in grids:
        polygon = shape(grid.geometry)
        shapely.prepare(polygon)
        region = grid.region
        found.append(Place(grid, polygon, region, region.parent, is_village(region.name), short_name(region.name)))
    return found


class Planner:
    def __init__(self, rng: np.random.Generator, places: list[Place], categories: list, now: dt.datetime, days: int = 90):
        self.rng, self.places, self.now, self.days = rng, places, now, days
        self.categories = categories
        self.by_code = {c.code: c for c in categories}
        weights = np.array([max(p.grid.households, 150) for p in places], dtype=float)
        first_street = min(p.street.code for p in places)
        weights[[i for i, p in enumerate(places) if p.street.code == first_street]] *= 4  # the demo logins' street
        # The demo grid worker's grid: the first ordinary grid (places are ordered by code).
        weights[next(i for i, p in enumerate(places) if p.grid.kind != "special")] *= 25
        self.place_weights = weights / weights.sum()

    # --- helpers ------------------------------------------------------------------------

    def _u(self, low: dt.timedelta, high: dt.timedelta) -> dt.timedelta:
        return low + (high - low) * float(self.rng.random())

    def _category(self, outcome: str, channel: str):
        pool = self.categories
        if outcome == "self_resolved":
            pool = [c for c in pool if c.self_resolvable]
        elif channel == Channel.VIDEO:
            pool = [self.by_code[c] for c in VIDEO_CATEGORIES if c in self.by_code] or pool
        elif channel == Channel.HOTLINE and self.rng.random() < 0.8:
            pool = [c for c in pool if c.code.startswith("H")] or pool
        elif channel in (Channel.PATROL, Channel.RESIDENT):
            pool = [c for c in pool if not c.code.startswith("H")] or pool
        return pool[int(self.rng.integers(len(pool)))]

    def _channel(self, outcome: str) -> str:
        if outcome == "self_resolved":
            return Channel.PATROL
        if outcome == "evaluated":
            return str(self.rng.choice([Channel.RESIDENT, Channel.HOTLINE, Channel.WALK_IN], p=[0.55, 0.35, 0.1]))
        return str(self.rng.choice(list(CHANNELS), p=list(CHANNELS.values())))

    def new_plan(self, index: int, outcome: str, place: Place | None = None, category=None, channel: str | None = None) -> Plan:
        place = place or self.places[int(self.rng.choice(len(self.places), p=self.place_weights))]
        channel = channel or self._channel(outcome)
        category = category or self._category(outcome, channel)
        urgent = category.code.startswith("E04") and self.rng.random() < 0.7 or self.rng.random() < 0.03
        title, description, address = texts.case_text(self.rng, category.code, category.name, place.label, place.street.name, place.village)
        lon, lat = shapes.random_point_in(place.polygon, self.rng)
        plan = Plan(index, outcome, place, category, Urgency.URGENT if urgent else Urgency.NORMAL, channel,
                    title, description, address, lat, lon)
        if channel == Channel.HOTLINE:
            plan.reporter_name = texts.pick(self.rng, texts.CALLERS)
            plan.reporter_phone = f"13{int(self.rng.integers(0, 10**9)):09d}"
        elif channel == Channel.VIDEO:
            plan.reporter_name = "智能视频巡查"
        elif channel == Channel.WALK_IN:
            plan.reporter_name = texts.pick(self.rng, texts.CALLERS)
        return plan

    def deadlines(self, plan: Plan, accepted_at: dt.datetime):
        amount, unit = plan.category.limit_for(plan.urgency)
        return sla.compute_deadlines(accepted_at, amount, unit)

    def _sla_state(self, plan: Plan, accepted_at: dt.datetime) -> str:
        due, warn = self.deadlines(plan, accepted_at)
        return SlaState.OVERDUE if self.now >= due else SlaState.WARNING if self.now >= warn else SlaState.NORMAL

    def _age_for(self, plan: Plan, target: str) -> dt.timedelta:
        """How long ago to accept the case so that its deadline is in ``target`` state now."""
        rank = {SlaState.NORMAL: 0, SlaState.WARNING: 1, SlaState.OVERDUE: 2}

        def boundary(level: int) -> dt.timedelta:  # smallest age reaching ``level``
            low, high = dt.timedelta(0), 60 * D
            for _ in range(24):
                mid = (low + high) / 2
                if rank[self._sla_state(plan, self.now - mid)] >= level:
                    high = mid
                else:
                    low = mid
            return high

        to_warning, to_overdue = boundary(1), boundary(2)
        if target == SlaState.OVERDUE:
            return to_overdue + self._u(2 * H, 3 * D)
        if target == SlaState.WARNING:
            return to_warning + (to_overdue - to_warning) * float(self.rng.uniform(0.1, 0.9))
        return max(min(to_warning * float(self.rng.uniform(0.1, 0.7)), 2 * D), 20 * M)

    # --- steps ----------------------------------------------------------------------------

    def plan(self, plan: Plan) -> Plan:
        o = plan.outcome
        if o in OPEN_OUTCOMES:
            return self._open(plan)
        if o == "reported":
            plan.steps = [(min(self.report_time(plan, self.now - self._u(10 * M, 8 * H)), self.now - 5 * M), "report", {})]
            return plan
        start = self.now - self._u(3 * D, (self.days - 2) * D)
        for _ in range(6):
            plan.steps = self._closed_steps(plan, start)
            overflow = plan.ends_at - (self.now - 5 * M)
            if overflow <= dt.timedelta(0):
                break
            start -= overflow + self._u(1 * H, 2 * D)
        return plan

    def _open(self, plan: Plan) -> Plan:
        o = plan.outcome
        target = SlaState.OVERDUE if o.startswith("overdue") else str(self.rng.choice([SlaState.NORMAL, SlaState.WARNING], p=[0.7, 0.3]))
        accepted = self.now - self._age_for(plan, target)
        in_hours = self.office(accepted)
        if in_hours < self.now - 5 * M and self._sla_state(plan, in_hours) == target:
            accepted = in_hours
        reported = accepted - self._u(5 * M, 2 * H)
        chain = {
            "accepted": [], "dispatched": ["dispatch"], "in_handling": ["dispatch", "start"],
            "returned": ["dispatch_wrong", "return"], "handled": ["dispatch", "start", "feedback"],
            "overdue_handling": ["dispatch", "start"], "overdue_handled": ["dispatch", "start", "feedback"],
        }[o]
        if o in ("in_handling", "overdue_handling") and self.rng.random() < 0.3:
            chain = chain + ["supervise"]
        span = (self.now - 2 * M) - accepted
        latest, moments, t = self.now - 2 * M, [], accepted
        for f in sorted(self.rng.uniform(0.05, 0.95, len(chain))):
            t = max(t + M, self.office(accepted + span * float(f)))
            moments.append(min(t, latest))
        plan.steps = [(reported, "report", {}), (accepted, "accept", {})] + [(t, a, {}) for t, a in zip(moments, chain)]
        return plan

    def office(self, t: dt.datetime, start: int = 8, end: int = 18) -> dt.datetime:
        """``t`` if it falls in staff hours (local time), else a moment early in the next ones."""
        local = t.astimezone(ZONE)
        if start <= local.hour < end:
            return t
        day = local.date() if local.hour < start else local.date() + D
        opening = dt.datetime.combine(day, dt.time(start), tzinfo=ZONE)
        return opening + self._u(5 * M, 75 * M)

    def report_time(self, plan: Plan, t: dt.datetime) -> dt.datetime:
        if plan.channel in (Channel.PATROL, Channel.WALK_IN):
            return self.office(t)
        if plan.channel == Channel.RESIDENT:
            return self.office(t, 7, 23)
        return t  # the hotline and the cameras never sleep

    def _closed_steps(self, plan: Plan, t: dt.datetime) -> list:
        o, rng = plan.outcome, self.rng
        t = self.report_time(plan, t)
        steps = [(t, "report", {})]

        def step(low, high, action, options=None, hours=(8, 18)):
            nonlocal t
            t = self.office(t + self._u(low, high), *hours)
            steps.append((t, action, options or {}))

        if o == "self_resolved":
            step(5 * M, 40 * M, "self_resolve")
            return steps
        if o == "rejected":
            step(20 * M, 5 * H, "reject")
            return steps
        if o == "merged":
            return steps  # the merge step is added by ``merge_into``
        step(10 * M, 3 * H, "accept")
        t_a = t
        due, _ = self.deadlines(plan, t_a)
        if o == "not_ours":
            step(30 * M, 1 * D, "close", {"closure": "not_ours"})
            return steps
        if o == "escalated":
            step(20 * M, 4 * H, "escalate")
        if o in ("returned_closed", "not_resolvable"):
            step(5 * M, 90 * M, "dispatch_wrong")
            step(1 * H, 8 * H, "return")
            if o == "not_resolvable":
                step(1 * H, 2 * D, "close", {"closure": "not_resolvable"})
                return steps
        step(5 * M, 90 * M, "dispatch_community" if o == "community" else "dispatch")
        step(15 * M, 4 * H, "start")
        if rng.random() < 0.12:
            step(1 * H, 1 * D, "supervise")
        if rng.random() < 0.08 and o != "community":
            step(30 * M, 6 * H, "extension", {"days": int(rng.integers(2, 6))})
            step(30 * M, 4 * H, "decide", {"approve": rng.random() < 0.8})
        share = float(rng.uniform(1.05, 1.8)) if rng.random() < 0.1 else float(rng.uniform(0.15, 0.85))
        t = max(t, t_a + (due - t_a) * share - 10 * M)
        step(10 * M, 10 * M, "feedback")
        if o == "rework":
            step(1 * H, 8 * H, "verify", {"passed": False})
            step(2 * H, 1 * D, "feedback")
        step(30 * M, 10 * H, "verify" if plan.category.verification_required else "close", {"passed": True, "closure": "resolved"})
        if o == "evaluated":
            step(1 * H, 2 * D, "evaluate", {"rating": int(rng.choice(RATINGS[0], p=RATINGS[1]))}, hours=(8, 22))
        return steps

    def merge_into(self, duplicate: Plan, survivors: list[Plan]) -> Plan | None:
        """Make ``duplicate`` a later report of one of ``survivors``, merged while it is open."""
        for _ in range(20):
            survivor = survivors[int(self.rng.integers(len(survivors)))]
            closes = next((t for t, a, o in survivor.steps if a in CLOSING or (a == "verify" and o.get("passed"))), self.now)
            accepted = next((t for t, a, _ in survivor.steps if a == "accept"), survivor.reported_at)
            window = closes - accepted
            if window < 2 * H:
                continue
            reported = accepted + window * float(self.rng.uniform(0.05, 0.3))
            merged = reported + min(self._u(10 * M, 2 * H), window * 0.3)
            copy = self.new_plan(duplicate.index, "merged", survivor.place, survivor.category, duplicate.channel)
            copy.steps = [(reported, "report", {}), (merged, "merge", {"into": survivor})]
            return copy
        return None

    def long_standing(self, plan: Plan) -> Plan:
        t = self.report_time(plan, self.now - self._u(15 * D, (self.days - 10) * D))
        t_a = self.office(t + self._u(10 * M, 3 * H))
        t_d = self.office(t_a + self._u(10 * M, 2 * H))
        t_h = self.office(t_d + self._u(1 * D, 6 * D))
        review = (self.now + self._u(10 * D, 60 * D)).date()
        plan.steps = [(t, "report", {}), (t_a, "accept", {}), (t_d, "dispatch", {}), (t_h, "hang", {"review_on": review})]
        return plan


def build_plans(planner: Planner, count: int) -> list[Plan]:
    """About ``count`` plans (each outcome at least once); merged duplicates are attached
    to survivors that are still open when the duplicate comes in."""
    names = list(OUTCOMES)
    quota = {o: max(1, round(OUTCOMES[o] * count)) for o in names}
    quota["evaluated"] += max(0, count - sum(quota.values()))
    plans: list[Plan] = []
    for outcome in names:
        for _ in range(quota[outcome]):
            plan = planner.new_plan(len(plans), outcome)
            plans.append(planner.long_standing(plan) if outcome == "long_standing" else planner.plan(plan))
    survivors = [p for p in plans if p.outcome in ("evaluated", "closed", "in_handling", "dispatched", "handled")]
    for i, plan in enumerate(plans):
        if plan.outcome == "merged":
            copy = planner.merge_into(plan, survivors)
            if copy is not None:
                plans[i] = copy
    return [p for p in plans if p.steps and (p.outcome != "merged" or len(p.steps) == 2)]
