"""Model fields for personal data: declare them and the rest is automatic.

    class Person(models.Model):
        phone = EncryptedTextField(_("手机号"), kind="phone", identifies=True, blank=True)
        phone_bidx = BlindIndexField(source="phone")
        name = EncryptedTextField(_("姓名"), kind="name", blank=True)
        pi_uid = RowUidField()
        pi_subject = SubjectKeyField()

- `EncryptedTextField` stores an envelope `g1:<cipher>:<data key id>:<base64 nonce|ciphertext|tag>`.
  Reading the attribute decrypts (once per instance) with associated data binding the
  ciphertext to its table, column and row (`pi_uid`, a UUID known before the row is
  inserted); a ciphertext copied to another row or column fails to open. Assigning a
  string marks it for encryption at the next save; an untouched value is written back as
  the same envelope, so ordinary saves cost no cryptography.
- `BlindIndexField` keeps the keyed hash of the normalised `source` value for exact lookups
  (`filter(phone_bidx=keys.blind_index(...))`); the encrypted column itself refuses lookups.
- The row's data key is its subject's: the first `identifies=True` field that has a value
  names the subject ("tel:<blind index>"); otherwise the row gets a subject of its own.
  `pi_subject` records which key, so anonymising a person finds every row to blank.
"""

import base64
import uuid

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from . import crypto, keys
from .validators import nfkc, upgrade_id15

ENVELOPE = "g1"
KINDS = {"text", "name", "phone", "id_number", "address"}
SUBJECT_PREFIX = {"phone": "tel", "id_number": "ric"}


def normalise_for_index(kind: str, value: str) -> str:
    """The form a value is blind-indexed in; lenient so it never raises (validation is the
    service's job): NFKC, separators and +86 dropped for phones, legacy IDs upgraded."""
    text = nfkc(value)
    if kind == "phone":
        from .validators import _digits

        return _digits(text)
    if kind == "id_number":
        text = text.upper().replace(" ", "")
        return upgrade_id15(text) if len(text) == 15 and text.isdigit() else text
    return text


class Sealed:
    """A stored envelope and, once opened on its row, the plaintext."""

    __slots__ = ("envelope", "plain")

    def __init__(self, envelope: str, plain: str | None = None):
        self.envelope = envelope or ""
        self.plain = "" if not self.envelope else plain

    def __getstate__(self):  # never pickle the plaintext (sessions, caches)
        return {"envelope": self.envelope}

    def __setstate__(self, state):
        self.envelope, self.plain = state["envelope"], (None if state["envelope"] else "")

    def __repr__(self) -> str:
        return "<Sealed>" if self.envelope else "<Sealed empty>"


def _uid_hex(value) -> str:
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def _aad(instance, field, alg: str, key_id: int) -> bytes:
    meta = pi_meta(type(instance))
    uid = getattr(instance, meta.uid.attname)
    return f"{ENVELOPE}|{alg}|{key_id}|{instance._meta.db_table}|{field.column}|{_uid_hex(uid)}".encode()


def seal_value(instance, field, plain: str, key_id: int, data_key) -> str:
    alg = keys.current_cipher()
    sealed = data_key.aead(alg).seal(plain.encode(), _aad(instance, field, alg, key_id))
    return f"{ENVELOPE}:{alg}:{key_id}:{base64.b64encode(sealed).decode()}"


def open_value(instance, field, envelope: str) -> str:
    """Decrypt one envelope on its row; a destroyed key reads as "" (the person is gone)."""
    try:
        tag, alg, key_id, body = envelope.split(":", 3)
        key_id = int(key_id)
        if tag != ENVELOPE:
            raise ValueError
        blob = base64.b64decode(body, validate=True)
    except ValueError:
        raise crypto.DecryptionError("malformed envelope") from None
    try:
        data_key = keys.data_key(key_id)
    except keys.KeyDestroyed:
        return ""
    return data_key.aead(alg).open(blob, _aad(instance, field, alg, key_id)).decode()


class _Meta:
    __slots__ = ("encrypted", "indexes", "subject", "uid")

    def __init__(self, model):
        fields = model._meta.concrete_fields
        self.encrypted = [f for f in fields if isinstance(f, EncryptedTextField)]
        self.indexes = [f for f in fields if isinstance(f, BlindIndexField)]
        self.uid = next((f for f in fields if isinstance(f, RowUidField)), None)
        self.subject = next((f for f in fields if isinstance(f, SubjectKeyField)), None)
        if self.encrypted and (self.uid is None or self.subject is None):
            raise FieldError(f"{model.__name__} has encrypted fields and needs a RowUidField and a SubjectKeyField")


_metas: dict[type, _Meta] = {}


def pi_meta(model) -> _Meta:
    found = _metas.get(model)
    if found is None:
        found = _metas[model] = _Meta(model)
    return found


def subject_for(kind: str, normalised: str) -> str:
    return f"{SUBJECT_PREFIX[kind]}:{keys.blind_index(kind, normalised)}"


def prepare(instance) -> None:
    """Encrypt the values assigned since the row was read, pick the row's data key and
    update the blind indexes. Idempotent: called by every personal-data field's pre_save."""
    meta = pi_meta(type(instance))
    values = instance.__dict__
    dirty = {f: values[f.attname] for f in meta.encrypted if type(values.get(f.attname)) is str}
    if not dirty:
        return
    dirty = {f: nfkc(v) if f.kind != "text" else v for f, v in dirty.items()}
    subject = None
    for f in meta.encrypted:
        if f.identifies and dirty.get(f):
            subject = subject_for(f.kind, normalise_for_index(f.kind, dirty[f]))
            break
    current = getattr(instance, meta.subject.attname)
    needs_key = any(dirty.values())
    key_id = data_key = None
    if subject is None and current is not None and needs_key:
        try:
            key_id, data_key = current, keys.data_key(current)
        except keys.KeyDestroyed:
            current = None
    if data_key is None and needs_key:
        key_id, data_key = keys.subject_key(subject or f"row:{_uid_hex(getattr(instance, meta.uid.attname))}")
    if needs_key and current is not None and key_id != current:
        # The row changes hands (e.g. a new phone): re-seal what it already held.
        for f in meta.encrypted:
            if f not in dirty:
                dirty[f] = getattr(instance, f.attname)
    for f, plain in dirty.items():
        values[f.attname] = Sealed(seal_value(instance, f, plain, key_id, data_key) if plain else "", plain)
    if needs_key:
        setattr(instance, meta.subject.attname, key_id)
    for index in meta.indexes:
        source = next((f for f in dirty if f.name == index.source), None)
        if source is not None:
            plain = dirty[source]
            values[index.attname] = keys.blind_index(source.kind, normalise_for_index(source.kind, plain)) if plain else ""


class _SealedAttribute(DeferredAttribute):
    """A data descriptor: reads decrypt on demand, writes keep plaintext until the save."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        attname = self.field.attname
        if attname not in instance.__dict__:
            instance.refresh_from_db(fields=[attname])
        value = instance.__dict__[attname]
        if isinstance(value, Sealed):
            if value.plain is None:
                value.plain = open_value(instance, self.field, value.envelope)
            return value.plain
        return value

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value if isinstance(value, Sealed) else ("" if value is None else str(value))


class EncryptedTextField(models.TextField):
    """Personal data encrypted at rest (AES-256-GCM or SM4-GCM) under the subject's data key."""

    descriptor_class = _SealedAttribute
    ALLOWED_LOOKUPS = frozenset({"exact", "isnull", "in"})

    def __init__(self, *args, kind: str = "text", identifies: bool = False, **kwargs):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        if identifies and kind not in SUBJECT_PREFIX:
            raise ValueError("only phone and id_number fields identify a person")
        self.kind, self.identifies = kind, identifies
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.kind
        if self.identifies:
            kwargs["identifies"] = True
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        return Sealed(value or "")

    def to_python(self, value):
        if isinstance(value, Sealed):
            return value
        if isinstance(value, str) and value.startswith(ENVELOPE + ":"):
            return Sealed(value)
        return "" if value is None else str(value)

    def get_prep_value(self, value):
        if isinstance(value, Sealed):
            return value.envelope
        if value is None or value == "" or (isinstance(value, str) and value.startswith(ENVELOPE + ":")):
            return value or ""
        raise TypeError(f"{self.model.__name__}.{self.name} is encrypted: search it through its blind index")

    def pre_save(self, model_instance, add):
        prepare(model_instance)
        return model_instance.__dict__.get(self.attname, "")

    def value_to_string(self, obj):
        prepare(obj)  # serialisation (dumpdata, fixtures) carries ciphertext, never plaintext
        value = obj.__dict__.get(self.attname, "")
        return value.envelope if isinstance(value, Sealed) else value

    def get_lookup(self, lookup_name):
        if lookup_name not in self.ALLOWED_LOOKUPS:
            raise FieldError(f"{self.name} is encrypted: only exact '' / isnull lookups; use its blind index")
        return super().get_lookup(lookup_name)


class BlindIndexField(models.CharField):
    """The keyed hash (HMAC-SM3) of another field's normalised value, for exact lookups."""

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        prepare(model_instance)
        return getattr(model_instance, self.attname)


class RowUidField(models.UUIDField):
    """A random identity of the row, set before insert, bound into every ciphertext."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", uuid.uuid4)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class SubjectKeyField(models.ForeignKey):
    """Which data subject's key seals this row's personal data."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("to", "privacy.SubjectKey")
        kwargs.setdefault("on_delete", models.PROTECT)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("related_name", "+")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        prepare(model_instance)
        return getattr(model_instance, self.attname)
