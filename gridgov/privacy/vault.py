"""Services over personal data as a whole: the audited reveal (查看明文), the data-subject
report (个人信息查询, PIPL Art. 45) and anonymisation (匿名化/删除, PIPL Art. 47).

They are generic: every model that declares `EncryptedTextField`s takes part, found by
introspection, so the person registries of a later issue need no code here. A person is
selected by a phone or an ID number through the blind indexes, never by decrypting rows.
"""

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridgov.errors import InvalidInput

from . import keys
from .fields import BlindIndexField, EncryptedTextField, normalise_for_index, pi_meta, subject_for
from .services import audit
from .validators import InvalidIdentifier, normalize_id_number, normalize_phone

# Why someone looks at a full value (查看目的); the code goes into the audit record.
PURPOSES = {
    "callback": "回访核实",
    "handling": "处置联系当事人",
    "verification": "现场核查",
    "investigation": "依法调查取证",
    "data_subject": "个人信息主体请求",
}


def pi_models():
    """Models that hold encrypted personal data."""
    return [m for m in apps.get_models() if any(isinstance(f, EncryptedTextField) for f in m._meta.concrete_fields)]


def _selector(kind: str, value: str) -> str:
    """The normalised identifier, or a clear error."""
    try:
        return normalize_phone(value) if kind == "phone" else normalize_id_number(value)
    except InvalidIdentifier as exc:
        raise InvalidInput(exc.message_zh, exc.message_en, details={"field": kind}) from None


def _matches(kind: str, normalised: str):
    """(model, queryset) pairs of the rows whose identifying field of `kind` holds the value."""
    digest = keys.blind_index(kind, normalise_for_index(kind, normalised))
    found = []
    for model in pi_models():
        fields = {f.name: f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)}
        for index in (f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)):
            source = fields.get(index.source)
            if source is not None and source.kind == kind:
                found.append((model, model._default_manager.filter(**{index.attname: digest})))
    return found


def _row(obj) -> dict:
    meta = pi_meta(type(obj))
    return {
        "model": obj._meta.label_lower, "id": obj.pk, "object": str(obj),
        "fields": {f.name: getattr(obj, f.attname) for f in meta.encrypted},
    }


@transaction.atomic
def reveal(*, actor, obj, fields: list[str], purpose: str, extra: list | None = None) -> dict:
    """Full values of `fields` of `obj` (plus `extra` rows' personal data), audited with the
    purpose. The caller has decided that `actor` may; this records that it did."""
    if purpose not in PURPOSES:
        raise InvalidInput("查看目的无效", "Unknown purpose", details={"field": "purpose", "allowed": sorted(PURPOSES)})
    names = {f.name for f in pi_meta(type(obj)).encrypted}
    unknown = [f for f in fields if f not in names]
    if unknown or not fields:
        raise InvalidInput("字段无效", "Unknown field", details={"field": "fields", "allowed": sorted(names)})
    values = {name: getattr(obj, name) for name in fields}
    related = [_row(o)["fields"] for o in (extra or [])]
    audit(actor=actor, action="pi.reveal", obj=obj,
          data={"purpose": purpose, "fields": sorted(fields), "related_rows": len(related)})
    return {"purpose": purpose, "values": values, "related": related}


@transaction.atomic
def report(*, actor, kind: str, value: str) -> dict:
    """Everything held about the person with this phone or ID number (PIPL Art. 45), as a
    JSON-ready dict; the request itself is audited (without the identifier)."""
    normalised = _selector(kind, value)
    rows = [_row(obj) for model, qs in _matches(kind, normalised) for obj in qs.order_by("pk")]
    audit(actor=actor, action="pi.report", object_type="privacy.subject", object_id=subject_for(kind, normalised)[:40],
          data={"selector": kind, "rows": len(rows)})
    return {"selector": kind, "generated_at": timezone.now().isoformat(), "rows": rows}


@transaction.atomic
def anonymise(*, actor, kind: str, value: str, reason: str = "") -> dict:
    """Remove a person (PIPL Art. 47) while keeping the statistics of the rows that held
    them: their data keys are destroyed (crypto-shredding) and every encrypted field and
    blind index of those rows blanked; a user account with that number is deactivated."""
    normalised = _selector(kind, value)
    key_ids, rows = set(), 0
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    for model, qs in _matches(kind, normalised):
        meta = pi_meta(model)
        key_ids.update(k for k in qs.values_list(meta.subject.attname, flat=True) if k)
        blank = {f.attname: "" for f in meta.encrypted}
        blank.update({f.attname: "" for f in meta.indexes})
        blank[meta.subject.attname] = None
        if model is user_model:
            users = list(qs.values_list("pk", flat=True))
            for pk in users:
                # Accounts stay (audit records point at them) but no longer name anyone.
                model._default_manager.filter(pk=pk).update(
                    username=f"anonymised-{pk}", first_name="", last_name="", email="", is_active=False, password="!",  # noqa: S106 (an unusable password marker)
                    **({"display_name": ""} if hasattr(model, "display_name") else {}),
                )
        rows += qs.update(**blank)
    destroyed = keys.destroy(key_ids)
    audit(actor=actor, action="pi.anonymise", object_type="privacy.subject", object_id=subject_for(kind, normalised)[:40],
          data={"selector": kind, "rows": rows, "keys_destroyed": destroyed, "reason": reason[:200]})
    return {"rows": rows, "keys_destroyed": destroyed}


def reencrypt_all(*, batch: int = 500) -> int:
    """Re-seal every encrypted value under the current cipher (fresh nonces, same data
    keys); `keys.rewrap_all` handles the master version. Returns rows rewritten."""
    done = 0
    for model in pi_models():
        meta = pi_meta(model)
        names = [f.attname for f in meta.encrypted]
        update = names + [f.attname for f in meta.indexes] + [meta.subject.attname]
        for obj in model._default_manager.order_by("pk").iterator(chunk_size=batch):
            plain = {name: getattr(obj, name) for name in names}
            if not any(plain.values()):
                continue
            for name, value in plain.items():
                setattr(obj, name, value)  # assigned again: sealed anew at save
            with transaction.atomic():
                obj.save(update_fields=update)
            done += 1
    return done
