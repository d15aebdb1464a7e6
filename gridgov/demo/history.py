"""Ninety days of case history, driven through ``gridgov.cases.services`` so that every
case has its timeline, assignments, notifications and audit records.

The plans (``plans.py``) are merged into one stream of steps in time order and replayed
under a simulated clock (``clock.py``): each service runs "at" its step's moment. After
the replay, closed cases get the SLA state the sweep would have given them while they
were open, and the real SLA sweep runs once at the real "now" (turning open cases to
warning/overdue and escalating overdue ones, as it does in production).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image, ImageDraw

from gridgov.cases import routing, sla
from gridgov.cases import services as cs
from gridgov.cases.choices import Closure, SlaState
from gridgov.cases.models import Case, Category, Department, ResponsibilityRule
from gridgov.errors import DomainError
from gridgov.places.models import Grid, Region, RegionLevel

from . import texts
from .categories import leaf_categories
from .clock import simulated_clock
from .people import People
from .plans import Plan, Planner, build_plans, places_of


@dataclass
class HistoryResult:
    cases: int = 0
    steps: int = 0
    failures: list[str] = field(default_factory=list)
    sweep: dict = field(default_factory=dict)


def _photo(rng, name: str) -> SimpleUploadedFile:
    """A small generated JPEG standing in for a photo from a phone."""
    colour = tuple(int(c) for c in rng.integers(40, 220, 3))
    image = Image.new("RGB", (96, 72), colour)
    draw = ImageDraw.Draw(image)
    x, y = int(rng.integers(5, 50)), int(rng.integers(5, 35))
    draw.rectangle([x, y, x + 35, y + 25], fill=tuple(255 - c for c in colour))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=70)
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


class Router:
    """The responsibility matrix in memory: general rules (no region limit), the most
    specific category first, the first named department that exists at the level."""

    def __init__(self):
        self.parent = dict(Category.objects.values_list("id", "parent_id"))
        self.rules: dict[tuple[int, str], list[str]] = {}
        rules = ResponsibilityRule.objects.filter(region__isnull=True, department__isnull=True).order_by("id")
        for category_id, level, name in rules.values_list("category_id", "level", "department_name"):
            self.rules.setdefault((category_id, level), []).append(name)
        self.level = dict(Region.objects.values_list("id", "level"))
        self.departments = {(d.region_id, d.name): d for d in Department.objects.filter(active=True)}

    def suggest(self, category, region_id: int) -> Department | None:
        category_id, level = category.pk, self.level[region_id]
        while category_id is not None:
            for name in self.rules.get((category_id, level), []):
                if (region_id, name) in self.departments:
                    return self.departments[(region_id, name)]
            category_id = self.parent.get(category_id)
        return None


class Replayer:
    """Runs plan steps through the services with the right actor for each."""

    def __init__(self, people: People, rng: np.random.Generator):
        self.people, self.rng = people, rng
        self.router = Router()

    # --- who acts -----------------------------------------------------------------------

    def commander(self, case: Case):
        """The dispatcher (or, at a community, the staff) of the level that holds the case."""
        region_id = case.owner_region_id
        return self.people.dispatcher.get(region_id) or self.people.staff[region_id]

    def assignee(self, case: Case):
        if case.owner_department_id:
            return self.people.handler[case.owner_department_id]
        return self.people.staff[case.owner_region_id]

    def decider(self, case: Case):
        latest = case.assignments.order_by("-dispatched_at", "-id").first()
        return self.people.dispatcher[latest.from_region_id if latest else case.owner_region_id]

    def reporter(self, plan: Plan):
        place, channel = plan.place, plan.channel
        if channel == "patrol":
            return self.people.worker[place.grid.pk]
        if channel == "resident":
            residents = self.people.resident[place.community.pk]
            return residents[int(self.rng.integers(len(residents)))]
        if channel == "walk_in":
            return self.people.staff[place.community.pk]
        return None  # hotline and video cases arrive through integrations

    # --- steps ----------------------------------------------------------------------------

    def report(self, plan: Plan) -> None:
        plan.case = cs.report_case(
            actor=self.reporter(plan), channel=plan.channel, title=plan.title, description=plan.description,
            category=plan.category, urgency=plan.urgency, grid=plan.place.grid, lat=plan.lat, lon=plan.lon,
            address=plan.address, reporter_name=plan.reporter_name, reporter_phone=plan.reporter_phone,
            photos=[_photo(self.rng, "report.jpg")] if plan.channel in ("patrol", "resident") and self.rng.random() < 0.5 else None,
        )

    def accept(self, plan: Plan) -> None:
        plan.case = cs.accept_case(actor=self.commander(plan.case), case=plan.case)

    def reject(self, plan: Plan) -> None:
        plan.case = cs.reject_case(actor=self.commander(plan.case), case=plan.case, reason=texts.pick(self.rng, texts.REJECT_REASONS))

    def merge(self, plan: Plan, into: Plan) -> None:
        plan.case = cs.merge_case(actor=self.commander(plan.case), case=plan.case, into=into.case, note="同一问题重复上报，合并办理")

    def self_resolve(self, plan: Plan) -> None:
        plan.case = cs.self_resolve_case(
            actor=self.people.worker[plan.place.grid.pk], case=plan.case, result=texts.result_for(self.rng, plan.category.code),
            before_photos=[_photo(self.rng, "before.jpg")], after_photos=[_photo(self.rng, "after.jpg")],
        )

    def _suggested(self, case: Case) -> Department:
        """What the responsibility matrix names (``routing.suggest_department`` decides the
        same from the database; this reads the matrix once, the replay dispatches thousands)."""
        found = self.router.suggest(case.category, case.owner_region_id)
        if found is not None:
            return found
        suggestion = routing.suggest_department(category=case.category, case_region=case.region, level=case.owner_region.level)
        return suggestion.department or Department.objects.filter(region_id=case.owner_region_id, active=True).order_by("code").first()

    def dispatch(self, plan: Plan) -> None:
        case = plan.case
        plan.case = cs.dispatch_case(actor=self.commander(case), case=case, department=self._suggested(case))

    def dispatch_wrong(self, plan: Plan) -> None:
        case, right = plan.case, self._suggested(plan.case)
        others = list(Department.objects.filter(region=case.owner_region, active=True).exclude(pk=right.pk).order_by("code"))
        wrong = others[int(self.rng.integers(len(others)))] if others else right
        plan.case = cs.dispatch_case(actor=self.commander(case), case=case, department=wrong, note="按经验派遣")

    def dispatch_community(self, plan: Plan) -> None:
        case = plan.case
        plan.case = cs.dispatch_case(actor=self.commander(case), case=case, region=plan.place.community, note="小事不出村居，交社区办理")

    def start(self, plan: Plan) -> None:
        plan.case = cs.start_handling(actor=self.assignee(plan.case), case=plan.case)

    def return_(self, plan: Plan) -> None:
        reason, party = texts.pick(self.rng, texts.RETURN_REASONS)
        plan.case = cs.return_case(actor=self.assignee(plan.case), case=plan.case, reason=reason, responsible_party=party)

    def extension(self, plan: Plan, days: int) -> None:
        cs.request_extension(actor=self.assignee(plan.case), case=plan.case, extra_working_days=days,
                             reason=texts.pick(self.rng, texts.EXTENSION_REASONS))

    def decide(self, plan: Plan, approve: bool) -> None:
        plan.case = cs.decide_extension(actor=self.decider(plan.case), case=plan.case, approve=approve,
                                        note="同意延期" if approve else "时限内应能办结，不予延期")

    def feedback(self, plan: Plan) -> None:
        photos = [_photo(self.rng, "feedback.jpg")] if self.rng.random() < 0.3 else None
        plan.case = cs.submit_feedback(actor=self.assignee(plan.case), case=plan.case,
                                       result=texts.result_for(self.rng, plan.category.code), photos=photos)

    def verify(self, plan: Plan, passed: bool, closure: str = "") -> None:
        note = "" if passed else texts.pick(self.rng, texts.REWORK_NOTES)
        plan.case = cs.verify_case(actor=self.people.worker[plan.place.grid.pk], case=plan.case, passed=passed, note=note)

    def close(self, plan: Plan, closure: str, passed: bool = True) -> None:
        options = {}
        if closure == Closure.NOT_RESOLVABLE:
            options["note"] = texts.pick(self.rng, texts.NOT_RESOLVABLE)
        elif closure == Closure.NOT_OURS:
            options["responsible_party"] = texts.pick(self.rng, texts.NOT_OURS)
            options["note"] = "经核实，该问题由产权单位负责处理，已告知上报人。"
        plan.case = cs.close_case(actor=self.commander(plan.case), case=plan.case, closure=closure, **options)

    def evaluate(self, plan: Plan, rating: int) -> None:
        case = plan.case
        comment = texts.pick(self.rng, texts.COMMENTS[rating])
        if plan.channel == "resident":
            plan.case = cs.evaluate_case(actor=case.reporter, case=case, rating=rating, comment=comment)
        else:  # 回访: the street calls the reporter back
            street = self.people.dispatcher[plan.place.street.pk]
            plan.case = cs.evaluate_case(actor=street, case=case, rating=rating, comment=comment, callback=True)

    def supervise(self, plan: Plan) -> None:
        district = plan.place.street.parent_id
        leader = self.people.leader.get(district) if self.rng.random() < 0.6 else self.people.dispatcher[plan.place.street.pk]
        plan.case = cs.supervise_case(actor=leader, case=plan.case, note=texts.pick(self.rng, texts.SUPERVISE_NOTES))

    def escalate(self, plan: Plan) -> None:
        plan.case = cs.escalate_case(actor=self.commander(plan.case), case=plan.case, reason=texts.pick(self.rng, texts.ESCALATE_REASONS))

    def hang(self, plan: Plan, review_on: dt.date) -> None:
        plan.case = cs.hang_case(actor=self.commander(plan.case), case=plan.case, review_on=review_on,
                                 reason=texts.pick(self.rng, texts.HANG_REASONS))


def replay(plans: list[Plan], replayer: Replayer) -> HistoryResult:
    result = HistoryResult(cases=len(plans))
    events = sorted(
        ((moment, plan.index, k, plan) for plan in plans for k, (moment, _, _) in enumerate(plan.steps)),
        key=lambda e: e[:3],
    )
    failed: set[int] = set()
    with simulated_clock() as clock:
        for moment, index, k, plan in events:
            if index in failed:
                continue
            _, action, options = plan.steps[k]
            clock.set(moment)
            try:
                getattr(replayer, "return_" if action == "return" else action)(plan, **options)
                result.steps += 1
            except (DomainError, KeyError) as exc:  # a refused step ends that case's story
                failed.add(index)
                case = plan.case
                where = f"case {case.number} {case.status} at {case.owner_region_id}/{case.owner_department_id}" if case else ""
                result.failures.append(f"{plan.outcome} #{index} {action} {where}: {exc!r}")
    return result


def settle_sla(now: dt.datetime) -> dict:
    """Closed cases keep the SLA state they reached while open; then the real sweep runs."""
    closed = Case.objects.filter(is_open=False, due_at__isnull=False, closed_at__isnull=False)
    closed.filter(closed_at__gt=F("due_at")).update(sla_state=SlaState.OVERDUE)
    closed.filter(Q(closed_at__lte=F("due_at")) & Q(closed_at__gte=F("warn_at"))).update(sla_state=SlaState.WARNING)
    return sla.sweep(now=now)


def _grids_with_regions() -> list[Grid]:
    """Every grid with its community → street → district → city loaded once (without the
    regions' boundaries: the services only need their codes, paths and levels)."""
    regions = {r.pk: r for r in Region.objects.defer("geometry")}
    for region in regions.values():
        region.parent = regions.get(region.parent_id)
    grids = list(Grid.objects.filter(region__level=RegionLevel.COMMUNITY).order_by("code"))
    for grid in grids:
        grid.region = regions[grid.region_id]
    return grids


def generate_history(people: People, *, count: int, seed: int, days: int = 90) -> HistoryResult:
    """Plan and replay ``count`` cases over the last ``days`` days."""
    now = timezone.now()
    rng = np.random.default_rng([seed, 23])
    planner = Planner(rng, places_of(_grids_with_regions()), leaf_categories(), now, days=days)
    plans = build_plans(planner, count)
    result = replay(plans, Replayer(people, rng))
    result.cases = Case.objects.count()
    result.sweep = settle_sla(now)
    return result
