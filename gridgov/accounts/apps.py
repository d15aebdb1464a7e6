from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "gridgov.accounts"
    label = "accounts"
    verbose_name = "Accounts (账号)"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers receivers and system checks)
