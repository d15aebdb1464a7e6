from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "gridgov.insight"
    label = "insight"
    verbose_name = "Insight (智能分析)"
