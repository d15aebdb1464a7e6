from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_sqlite_gate(sender, connection, **kwargs):
    """The SQLite audit triggers ask `gridgov_audit_gate()` for the purge cutoff (None: no purge)."""
    if connection.vendor != "sqlite":
        return
    from .services import purge_gate

    connection.connection.create_function("gridgov_audit_gate", 0, lambda: purge_gate.get())


class PrivacyConfig(AppConfig):
    name = "gridgov.privacy"
    label = "privacy"
    verbose_name = "Privacy and audit (隐私与审计)"

    def ready(self) -> None:
        import hashlib

        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        connection_created.connect(_register_sqlite_gate, dispatch_uid="gridgov.privacy.sqlite_gate")
        alg = settings.GRIDGOV["AUDIT"]["HASH"]
        if alg not in hashlib.algorithms_available:
            raise ImproperlyConfigured(f"GRIDGOV_AUDIT_HASH={alg!r} is not available in this Python/OpenSSL build")
        # Refuse to start on a crypto library that fails its known-answer tests (e.g. an
        # OpenSSL built without SM3/SM4): encrypting with it would be worse than stopping.
        from .crypto import self_test

        self_test()
