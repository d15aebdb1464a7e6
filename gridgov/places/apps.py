from django.apps import AppConfig


class PlacesConfig(AppConfig):
    name = "gridgov.places"
    label = "places"
    verbose_name = "Places (地区与网格)"

    def ready(self):
        from . import signals, versions

        signals.connect()
        versions.connect()
