"""Cases API: report, list, detail, transitions, categories, departments."""

from ninja import Router

router = Router(tags=["cases"])
