from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridgov.web"
    label = "web"
    verbose_name = "Web"
