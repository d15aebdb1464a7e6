"""Sign-in events from Django and django-axes, written to the login history and the audit log."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import LoginEvent


@receiver(user_logged_in, dispatch_uid="gridgov.accounts.logged_in")
def _logged_in(sender, request, user, **kwargs):
    from . import services

    services.record_login_event(request=request, kind=LoginEvent.Kind.SUCCESS, user=user)


@receiver(user_login_failed, dispatch_uid="gridgov.accounts.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    from . import services

    services.record_login_event(request=request, kind=LoginEvent.Kind.FAILURE, username=str(credentials.get("username") or ""))


@receiver(user_locked_out, dispatch_uid="gridgov.accounts.locked_out")
def _locked_out(sender, request, username=None, ip_address=None, **kwargs):
    from . import services

    services.record_login_event(request=request, kind=LoginEvent.Kind.LOCKOUT, username=str(username or ""))


@receiver(user_logged_out, dispatch_uid="gridgov.accounts.logged_out")
def _logged_out(sender, request, user, **kwargs):
    from . import services

    if user is not None and getattr(user, "pk", None):
        services.record_login_event(request=request, kind=LoginEvent.Kind.LOGOUT, user=user)
