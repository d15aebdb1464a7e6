"""Keep the spatial index version in step with edits made outside the services (the admin,
a shell): saving or deleting a grid, micro-grid or region bumps it. The services write in
bulk and bump once themselves, pausing these receivers meanwhile."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models.signals import post_delete, post_save

_paused: ContextVar[bool] = ContextVar("places_index_signals_paused", default=False)


@contextmanager
def index_signals_paused():
    """Within this block saves and deletes do not bump the index version (the caller does)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def _territory_changed(sender, instance=None, raw=False, **kwargs):
    if raw or _paused.get():
        return
    from .services import bump_index_version

    bump_index_version()


def connect() -> None:
    """Wire the receivers (called from PlacesConfig.ready)."""
    from .models import Grid, MicroGrid, Region

    for model in (Grid, MicroGrid, Region):
        uid = f"places-index-{model._meta.model_name}"
        post_save.connect(_territory_changed, sender=model, dispatch_uid=uid + "-save")
        post_delete.connect(_territory_changed, sender=model, dispatch_uid=uid + "-delete")
