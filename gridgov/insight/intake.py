"""Insight at intake and after: file a new case's duplicate keys, suggest a category from its
text (智能分类建议), and record what the dispatcher did with the suggestion.

The cases app does not import insight; it sends `cases.signals.case_reported` from intake, and
insight listens to the timeline (`accept`, `dispatch` entries) for the decisions. Connected in
`InsightConfig.ready()`.

The classifier predicts the message board's first-level labels (城乡建设, 环境保护 … seven of
them), not the platform's category tree. A label becomes a platform category through
`LabelMapping` (admin-editable), else the first-level category of the same name; with neither,
the label is a hint the dispatcher reads, and no department is suggested. See docs/insight.md.

Settings (`GRIDGOV`): `INSIGHT_SUGGEST_AT_INTAKE` = "uncategorised" (default: only cases
reported without a category), "always" or "off"; `DUPLICATE_INDEX_AT_INTAKE` (default True).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from . import duplicates

logger = logging.getLogger("gridgov.insight")

SUGGEST_MODES = ("uncategorised", "always", "off")


def _setting(name: str, default):
    return (getattr(settings, "GRIDGOV", {}) or {}).get(name, default)


# --- labels ↔ platform categories -----------------------------------------------------------


def category_for_label(label: str):
    """The platform category a classifier label suggests, or None (hint only)."""
    from gridgov.cases.models import Category

    from .models import LabelMapping

    mapping = LabelMapping.objects.filter(label=label).select_related("category").first()
    if mapping is not None:
        return mapping.category if mapping.category is None or mapping.category.active else None
    return Category.objects.filter(name=label, parent=None, active=True).order_by("code").first()


def label_for_category(category) -> str | None:
    """The classifier label a platform category counts as, for training and for "followed":
    the label a LabelMapping gives the category or its nearest ancestor, else the name of its
    first-level ancestor."""
    from .models import LabelMapping

    if category is None:
        return None
    chain, node = [], category
    while node is not None:
        chain.append(node)
        node = node.parent
    mapped = dict(LabelMapping.objects.filter(category__in=chain).values_list("category_id", "label"))
    for node in chain:
        if node.pk in mapped:
            return mapped[node.pk]
    return chain[-1].name


# --- the suggestion -------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeSuggestion:
    label: str
    confidence: float
    alternatives: tuple
    model: str


def classify_case(title: str, description: str) -> IntakeSuggestion | None:
    """The classifier's suggestion, or None when there is no model or no text (intake goes on)."""
    from gridgov.errors import DomainError

    from . import classifier

    try:
        s = classifier.suggest(title, description)
    except DomainError as exc:  # no artefact, an artefact from other code, empty text
        logger.warning("insight: no suggestion for %r: %s", title[:40], exc.message_en)
        return None
    return IntakeSuggestion(s.label, round(s.confidence, 4), tuple((lab, round(p, 4)) for lab, p in s.alternatives), s.model)


def record_suggestion(case):
    """Classify a case and store the suggestion (one INSERT); None when nothing was suggested."""
    from .models import CaseSuggestion

    s = classify_case(case.title, case.description)
    if s is None:
        return None
    return CaseSuggestion.objects.create(
        case=case, label=s.label, confidence=s.confidence, alternatives=[list(a) for a in s.alternatives], model=s.model,
    )


def department_for(category, case) -> object | None:
    """The department the matrix names for a category at the level that holds the case."""
    from gridgov.cases import routing

    if category is None:
        return None
    return routing.suggest_department(category=category, case_region=case.region, level=case.owner_region.level).department


# --- receivers ------------------------------------------------------------------------------


def on_case_reported(sender, case, **kwargs):
    """Intake: file the duplicate keys (one INSERT) and, per the setting, the suggestion (one INSERT)."""
    if _setting("DUPLICATE_INDEX_AT_INTAKE", True):
        duplicates.index_case(case)
    mode = _setting("INSIGHT_SUGGEST_AT_INTAKE", "uncategorised")
    if mode == "always" or (mode == "uncategorised" and case.category_id is None):
        record_suggestion(case)


def on_timeline_entry(sender, instance, created, raw=False, **kwargs):
    """Record the dispatcher's decision on a suggestion: at acceptance the category, at the first
    dispatch the department. Costs one query for a case without a suggestion."""
    if raw or not created or instance.action not in ("accept", "dispatch"):
        return
    from .models import CaseSuggestion

    suggestion = CaseSuggestion.objects.filter(case_id=instance.case_id).first()
    if suggestion is None:
        return
    case = instance.case
    if instance.action == "accept" and suggestion.decided_at is None:
        suggestion.category = category_for_label(suggestion.label)
        suggestion.final_category = case.category
        suggestion.followed = label_for_category(case.category) == suggestion.label
        suggestion.decided_by = instance.actor
        suggestion.decided_at = instance.at or timezone.now()
        suggestion.save(update_fields=["category", "final_category", "followed", "decided_by", "decided_at"])
    elif instance.action == "dispatch" and suggestion.department_followed is None:
        assignment = case.assignments.select_related("from_region").order_by("-id").first()
        if assignment is None or assignment.department_id is None:
            return  # sent down to a lower level, not to a department: nothing to compare yet
        from gridgov.cases import routing

        category = suggestion.category or category_for_label(suggestion.label)
        dept = None
        if category is not None:
            dept = routing.suggest_department(category=category, case_region=case.region, level=assignment.from_region.level).department
        suggestion.suggested_department = dept
        suggestion.department_followed = dept is not None and dept.pk == assignment.department_id
        suggestion.save(update_fields=["suggested_department", "department_followed"])


# --- training data from the platform's own cases --------------------------------------------

TRAINING_COLUMNS = ("title", "detail", "label", "number", "suggested", "confidence", "followed")


def training_rows(*, all_categorised: bool = False, since=None):
    """Rows in the `gridgov insight train --data` layout (title, detail, label; other columns are
    ignored by training): every case whose suggestion the dispatcher accepted or corrected, the
    label being the classifier label of the category they confirmed. `all_categorised` adds
    every accepted case with a category, suggested or not. Merged and rejected cases are left out."""
    from gridgov.cases.choices import Status
    from gridgov.cases.models import Case

    from .models import CaseSuggestion

    labels: dict[int, str | None] = {}

    def label_of(category):
        if category.pk not in labels:
            labels[category.pk] = label_for_category(category)
        return labels[category.pk]

    excluded = [Status.MERGED, Status.REJECTED]
    decided = (
        CaseSuggestion.objects.filter(decided_at__isnull=False, final_category__isnull=False)
        .exclude(case__status__in=excluded)
        .select_related("case", "final_category__parent__parent")
        .order_by("case__reported_at", "case_id")
    )
    if since is not None:
        decided = decided.filter(case__reported_at__gte=since)
    seen = set()
    for s in decided.iterator(chunk_size=1000):
        seen.add(s.case_id)
        yield {"title": s.case.title, "detail": s.case.description, "label": label_of(s.final_category),
               "number": s.case.number, "suggested": s.label, "confidence": f"{s.confidence:.4f}",
               "followed": "1" if s.followed else "0"}
    if not all_categorised:
        return
    rest = (
        Case.objects.filter(category__isnull=False, accepted_at__isnull=False).exclude(status__in=excluded)
        .select_related("category__parent__parent").only("number", "title", "description", "category")
        .order_by("reported_at", "pk")
    )
    if since is not None:
        rest = rest.filter(reported_at__gte=since)
    for case in rest.iterator(chunk_size=1000):
        if case.pk in seen:
            continue
        yield {"title": case.title, "detail": case.description, "label": label_of(case.category), "number": case.number,
               "suggested": "", "confidence": "", "followed": ""}
