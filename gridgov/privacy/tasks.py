"""Background tasks of the privacy app; ``gridgov worker`` schedules ``audit_checkpoint``."""

from django.tasks import task


@task()
def audit_checkpoint() -> dict:
    """Sign the head of every audit chain that moved (``gridgov.privacy.chain.write_checkpoints``)."""
    from .chain import write_checkpoints

    return {"checkpoints": len(write_checkpoints())}
