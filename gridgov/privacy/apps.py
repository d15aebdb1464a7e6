from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "gridgov.privacy"
    label = "privacy"
    verbose_name = "Privacy and audit (隐私与审计)"
