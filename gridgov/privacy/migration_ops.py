"""Helpers for migrations that turn plaintext columns into encrypted ones."""

import uuid

from .fields import ENVELOPE, Sealed, pi_meta


def seal_existing(app_label: str, model_name: str):
    """A RunPython function: give every row its own `pi_uid` (AddField gave them all one)
    and encrypt the plaintext the encrypted columns still hold."""

    def run(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        meta = pi_meta(model)
        update = [meta.uid.attname, meta.subject.attname, *(f.attname for f in meta.encrypted), *(f.attname for f in meta.indexes)]
        for obj in model._default_manager.order_by("pk").iterator(chunk_size=500):
            setattr(obj, meta.uid.attname, uuid.uuid4())
            for f in meta.encrypted:
                stored = obj.__dict__.get(f.attname)
                raw = stored.envelope if isinstance(stored, Sealed) else (stored or "")
                if raw and not raw.startswith(ENVELOPE + ":"):
                    setattr(obj, f.attname, raw)  # plaintext left by the old column: sealed at save
            obj.save(update_fields=update)

    return run
