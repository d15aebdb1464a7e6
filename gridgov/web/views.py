from django.db.models import Count
from django.shortcuts import render

from gridgov.cases.choices import Status
from gridgov.cases.models import Case


def home(request):
    """The landing page: what this is, where to go, and — signed in — the cases in scope by status."""
    counts = []
    if request.user.is_authenticated:
        rows = dict(Case.objects.restrict(request.user).values_list("status").annotate(n=Count("id")).order_by())
        counts = [(label, rows.get(value, 0)) for value, label in Status.choices]
    return render(request, "web/home.html", {"counts": counts})
