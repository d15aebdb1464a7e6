from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "gridgov.insight"
    label = "insight"
    verbose_name = "Insight (智能分析)"

    def ready(self):
        from django.db.models.signals import post_save

        from gridgov.cases.models import TimelineEntry
        from gridgov.cases.signals import case_reported

        from . import intake

        case_reported.connect(intake.on_case_reported, dispatch_uid="insight.on_case_reported")
        post_save.connect(intake.on_timeline_entry, sender=TimelineEntry, dispatch_uid="insight.on_timeline_entry")
