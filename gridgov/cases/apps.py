from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "gridgov.cases"
    label = "cases"
    verbose_name = "Cases (事件)"

    def ready(self):
        # System checks (calendar published, working hours well-formed) and the
        # invalidation of the per-process calendar cache.
        from . import calendar, checks, lookups  # noqa: F401

        calendar.connect_signals()
        lookups.connect_signals()
