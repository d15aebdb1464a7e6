"""Warning state changes (预警处置): raise (from a scan), acknowledge, close, turn into a case.

Each is one transaction with an audit record. Rights come from `insight.permissions`, the
territory from `EarlyWarning.objects.restrict`: a warning outside the actor's territory
answers NotFound, exactly like one that does not exist.

    open ──acknowledge──▶ acknowledged ──close──▶ closed
      └──────────────────close───────────────────▶┘
    open | acknowledged ──to_case──▶ acknowledged, linked to the new case
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from gridgov.accounts.permissions import can
from gridgov.cases import services as case_services
from gridgov.cases.choices import Channel
from gridgov.cases.models import Case, Category, TimelineEntry
from gridgov.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from gridgov.privacy.services import audit

from .models import SEVERITY_RANK, EarlyWarning, WarningState
from .permissions import may

ACTION_LABELS = {"view": "查看预警", "acknowledge": "确认预警", "close": "关闭预警", "to_case": "预警转立案"}
# Cases opened from a warning are found by the platform's own watch, the nearest of the
# intake channels to a patrol (主动发现); the timeline entry says which warning it was.
WARNING_CASE_CHANNEL = Channel.PATROL


# --- raising (the scan) ----------------------------------------------------------------


def record_firing(firing, *, at: dt.datetime, dry_run: bool = False) -> str:
    """Record a rule's finding: a new warning, or a refresh of the open one for the same rule
    and subject (never a second one). Returns the outcome and sets it on the firing."""
    open_one = EarlyWarning.objects.filter(rule=firing.rule, subject_key=firing.subject_key).exclude(
        state=WarningState.CLOSED).first()
    if open_one is None:
        quiet = float((firing.rule.params or {}).get("quiet_hours", 24))
        recently_closed = EarlyWarning.objects.filter(
            rule=firing.rule, subject_key=firing.subject_key, state=WarningState.CLOSED,
            closed_at__gt=at - dt.timedelta(hours=quiet),
        ).exists()
        if recently_closed:
            firing.outcome = "quiet"
        elif dry_run:
            firing.outcome = "would_raise"
        else:
            try:
                with transaction.atomic():
                    warning = _raise(firing, at)
                firing.outcome, firing.warning_id = "new", warning.pk
            except IntegrityError:  # another scan raised it a moment ago
                open_one = EarlyWarning.objects.filter(rule=firing.rule, subject_key=firing.subject_key).exclude(
                    state=WarningState.CLOSED).first()
    if open_one is not None:
        firing.warning_id = open_one.pk
        firing.outcome = "open" if dry_run else _refresh(open_one, firing, at)
    return firing.outcome


def _raise(firing, at) -> EarlyWarning:
    warning = EarlyWarning.objects.create(
        rule=firing.rule, kind=firing.rule.kind, subject_key=firing.subject_key, severity=firing.severity,
        title=firing.title[:200], evidence=firing.evidence, region=firing.region, grid=firing.grid,
        category=firing.category, scope_path=firing.scope_path, owner_region=firing.owner_region,
        owner_department=firing.owner_department, raised_at=at, last_seen_at=at,
    )
    audit(actor=None, action="warning.raise", obj=warning,
          data={"rule": firing.rule.code, "subject": firing.subject_key, "severity": firing.severity})
    return warning


@transaction.atomic
def _refresh(warning: EarlyWarning, firing, at) -> str:
    """The rule still finds the subject: newest evidence, severity never lowered."""
    warning = EarlyWarning.objects.select_for_update().get(pk=warning.pk)
    if warning.state == WarningState.CLOSED:  # closed between the read and the lock
        return "quiet"
    raised = SEVERITY_RANK[firing.severity] > SEVERITY_RANK[warning.severity]
    if raised:
        audit(actor=None, action="warning.severity", obj=warning, data={"from": warning.severity, "to": firing.severity})
        warning.severity = firing.severity
    warning.evidence, warning.title = firing.evidence, firing.title[:200]
    warning.last_seen_at = max(warning.last_seen_at, at)
    warning.fire_count += 1
    warning.save(update_fields=["evidence", "title", "severity", "last_seen_at", "fire_count"])
    return "refreshed"


# --- acting on a warning ---------------------------------------------------------------


def _require(actor, action: str, warning: EarlyWarning, *, allowed_from) -> EarlyWarning:
    """Role right, territory, state; returns the warning re-read under a row lock."""
    if actor is None:
        raise Forbidden("需要指定操作人", "An actor is required", code="actor_required")
    if not may(actor, "view"):
        raise NotFound("预警不存在", "Warning not found")
    if not may(actor, action):
        raise Forbidden(f"您的角色无权{ACTION_LABELS[action]}", f"Your role may not {action} warnings", code="role_forbidden")
    locked = EarlyWarning.objects.restrict(actor).select_for_update().filter(pk=warning.pk).first()
    if locked is None:
        raise NotFound("预警不存在", "Warning not found")
    if locked.state not in allowed_from:
        raise IllegalTransition(
            f"预警当前状态为“{locked.get_state_display()}”，不能{ACTION_LABELS[action]}",
            f"Cannot {action} a warning in state {locked.state}", details={"state": locked.state, "action": action},
        )
    return locked


def _note(value) -> str:
    value = (value or "").strip()
    if len(value) > 2000:
        raise InvalidInput("说明不能超过2000个字", "note is too long", details={"field": "note"})
    return value


def _append(warning: EarlyWarning, note: str) -> None:
    if note:
        warning.note = f"{warning.note}\n{note}".strip()


@transaction.atomic
def acknowledge_warning(*, actor, warning: EarlyWarning, note: str = "") -> EarlyWarning:
    """Acknowledge a warning (确认): someone has seen it and will act."""
    note = _note(note)
    warning = _require(actor, "acknowledge", warning, allowed_from={WarningState.OPEN})
    warning.state, warning.acknowledged_at, warning.acknowledged_by = WarningState.ACKNOWLEDGED, timezone.now(), actor
    _append(warning, note)
    warning.save()
    audit(actor=actor, action="warning.acknowledge", obj=warning, data={"note": note})
    return warning


@transaction.atomic
def close_warning(*, actor, warning: EarlyWarning, note: str = "") -> EarlyWarning:
    """Close a warning (关闭): handled, or not a real problem; the note says which."""
    note = _note(note)
    warning = _require(actor, "close", warning, allowed_from={WarningState.OPEN, WarningState.ACKNOWLEDGED})
    now = timezone.now()
    warning.state, warning.closed_at, warning.closed_by = WarningState.CLOSED, now, actor
    if warning.acknowledged_at is None:
        warning.acknowledged_at, warning.acknowledged_by = now, actor
    _append(warning, note)
    warning.save()
    audit(actor=actor, action="warning.close", obj=warning, data={"note": note})
    return warning


def _description(warning: EarlyWarning) -> str:
    ev = warning.evidence or {}
    lines = [f"由预警 #{warning.pk}（{warning.rule.name}）转立。", warning.title]
    if "count" in ev:
        lines.append(f"依据：{ev.get('count')}件，阈值/期望 {ev.get('expected')}。")
    numbers = [c.get("number") for c in ev.get("cases", []) if isinstance(c, dict) and c.get("number")]
    if numbers:
        lines.append("相关案件：" + "、".join(numbers[:20]))
    return "\n".join(lines)


@transaction.atomic
def warning_to_case(*, actor, warning: EarlyWarning, title: str = "", category: Category | None = None,
                    note: str = "") -> tuple[EarlyWarning, Case]:
    """Turn a warning into a case in one action (转立案): the case is reported through the
    case intake service at the warning's grid (or region), and the two are linked."""
    note = _note(note)
    warning = _require(actor, "to_case", warning, allowed_from={WarningState.OPEN, WarningState.ACKNOWLEDGED})
    if warning.case_id is not None:
        raise Conflict("该预警已转立案件", "This warning already has a case", details={"case": warning.case.number})
    if not can(actor, "report"):
        raise Forbidden("您的角色无权上报案件", "Your role may not report cases", code="role_forbidden")
    case = case_services.report_case(
        actor=actor, channel=WARNING_CASE_CHANNEL, title=(title or warning.title)[:200],
        description=_description(warning), category=category or warning.category,
        grid=warning.grid, region=None if warning.grid_id else warning.region,
    )
    TimelineEntry.objects.create(
        case=case, at=timezone.now(), actor=actor, action="from_warning", from_status=case.status, to_status=case.status,
        note=note, data={"warning": warning.pk, "rule": warning.rule.code}, public=False,
    )
    now = timezone.now()
    warning.case = case
    if warning.state == WarningState.OPEN:
        warning.state, warning.acknowledged_at, warning.acknowledged_by = WarningState.ACKNOWLEDGED, now, actor
    _append(warning, note)
    warning.save()
    audit(actor=actor, action="warning.to_case", obj=warning, data={"case": case.number, "note": note})
    return warning, case
