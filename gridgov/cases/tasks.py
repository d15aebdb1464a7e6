"""Background tasks of the cases app (Django's task framework, django-tasks-db backend).

``gridgov worker`` runs the worker and enqueues ``sla_sweep`` periodically.
"""

from django.tasks import task


@task()
def sla_sweep() -> dict:
    """Mark warning/overdue cases and escalate overdue ones (``gridgov.cases.sla.sweep``)."""
    from .sla import sweep

    return sweep()
