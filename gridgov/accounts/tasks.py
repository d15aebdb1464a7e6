"""Background tasks of accounts (Django's task framework)."""

from django.tasks import task


@task()
def disable_inactive_staff() -> dict:
    """Disable staff accounts unused for GRIDGOV["STAFF_INACTIVE_DAYS"] days (SECURITY.md R5)."""
    from .services import disable_inactive_staff as run

    return {"disabled": run()}
