from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "gridgov.ops"
    label = "ops"
    verbose_name = "Operations (运维)"
