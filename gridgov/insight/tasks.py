"""Background tasks of the insight app (Django's task framework, django-tasks-db backend).

``gridgov worker`` enqueues ``insight_scan`` every ``GRIDGOV["INSIGHT"]["SCAN_INTERVAL_SECONDS"]``.
"""

from django.tasks import task


@task()
def insight_scan() -> dict:
    """Refresh the hot-spot rollup and run every enabled warning rule (``warnings.scan``)."""
    from .warnings import scan

    result = scan()
    outcomes: dict[str, int] = {}
    for firing in result.firings:
        outcomes[firing.outcome] = outcomes.get(firing.outcome, 0) + 1
    return {"at": result.at.isoformat(), "rules": len(result.runs), **outcomes}
