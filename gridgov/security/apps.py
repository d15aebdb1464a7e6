from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "gridgov.security"
    label = "security"
    verbose_name = _("安全")

    def ready(self):
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .durability import on_connection_created

        # Every new connection, in every process (gunicorn workers, task workers, runserver,
        # management commands), proves its durability settings before it is used.
        connection_created.connect(on_connection_created, dispatch_uid="gridgov.security.durability")
