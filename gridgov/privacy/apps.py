from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "gridgov.privacy"
    label = "privacy"
    verbose_name = "Privacy and audit (隐私与审计)"

    def ready(self):
        # Refuse to start on a crypto library that fails its known-answer tests (e.g. an
        # OpenSSL built without SM3/SM4): encrypting with it would be worse than stopping.
        from .crypto import self_test

        self_test()
