"""Sign-in pages (登录): login, second factor, enrolment, password change, history, logout.

They are plain server-rendered forms without scripts. The security middleware sends a
signed-in user who still owes a second factor or a new password here, whatever they asked for.
"""

import base64
import time

import segno
from django.conf import settings
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from gridgov.privacy.services import audit

from . import services
from .forms import LOGIN_FAILED, LoginForm, OtpForm, PasswordChangeForm
from .middleware import LAST_SEEN_KEY
from .models import LoginEvent

ENROL_KEY = "gg_otp_enrol_key"


def _next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    """Username and password. Failure, unknown user and lockout give the very same page."""
    form = LoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
        if user is not None:
            auth_login(request, user)  # a new session id (rotation) and the login record, via signals
            request.session[LAST_SEEN_KEY] = int(time.time())
            return redirect(_next(request))
        form, error = LoginForm(), LOGIN_FAILED  # the username is not echoed: one page for every failure
    return render(request, "accounts/login.html", {"form": form, "error": error, "next": _next(request, ""),
                                                   "timeout": request.GET.get("timeout") == "1"})


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out attempt: exactly the page a wrong password gets."""
    if original_response is not None:
        return original_response
    return render(request, "accounts/login.html", {"form": LoginForm(), "error": LOGIN_FAILED, "next": "", "timeout": False})


def _confirmed_device(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


@login_required
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    """The second factor: a TOTP code from the user's authenticator app; a used code is refused."""
    device = _confirmed_device(request.user)
    if device is None:
        return redirect(f"{reverse('accounts:otp_enrol')}?{urlencode({'next': _next(request)})}")
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()  # django-otp doubles the wait after each failure
        if allowed and device.verify_token(form.cleaned_data["token"]):
            request.session.cycle_key()  # a new session id at the step up as well
            otp_login(request, device)
            audit(actor=request.user, action="login.otp_verified", obj=request.user, data={"ip": services.client_ip(request)})
            return redirect(_next(request))
        services.record_login_event(request=request, kind=LoginEvent.Kind.OTP_FAILURE, user=request.user)
        form.add_error("token", "动态口令错误或已使用过，请等待下一个口令" if allowed else "尝试过于频繁，请稍等几秒再试")
    return render(request, "accounts/otp_verify.html", {"form": form, "next": _next(request, "")})


@login_required
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def otp_enrol(request):
    """Set up the authenticator app: only while the user has no confirmed device yet (once a
    device exists, a password alone must never be enough to add another). The new secret
    waits in the session; the device row is written only when a code from it is confirmed,
    so looking at the page changes nothing."""
    user = request.user
    if _confirmed_device(user) is not None:
        return redirect(f"{reverse('accounts:otp_verify')}?{urlencode({'next': _next(request)})}")
    key = request.session.get(ENROL_KEY)
    if not key:
        key = request.session[ENROL_KEY] = default_key()
    device = TOTPDevice(user=user, name="default", key=key, confirmed=False)
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        if totp.verify(int(form.cleaned_data["token"]), device.tolerance):
            with transaction.atomic():
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                device.confirmed, device.last_t = True, totp.t()  # the code just used cannot be replayed
                device.save()
                audit(actor=user, action="account.otp_enrol", obj=user, data={"device": device.pk})
            del request.session[ENROL_KEY]
            request.session.cycle_key()
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", "动态口令不正确，请核对手机时间后重试")
    uri = device.config_url
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return render(request, "accounts/otp_enrol.html", {
        "form": form, "uri": uri, "secret": _b32(device.bin_key), "qr_svg": svg, "next": _next(request, ""),
    })


def _b32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def password_change(request):
    """Change one's own password (forced on first sign-in, after a reset and on expiry)."""
    user = request.user
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.change_password(user=user, old_password=None, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, user)  # keeps this session, ends the others
        return redirect(_next(request))
    reason = "expired" if user.password_expired() else ("forced" if user.must_change_password else "")
    return render(request, "accounts/password_change.html", {
        "form": form, "next": _next(request, ""), "reason": reason,
        "max_age": settings.GRIDGOV["PASSWORD_MAX_AGE_DAYS"],
    })


@login_required
@never_cache
def login_history(request):
    """The user's own sign-in record: successes, failures, lockouts, logouts."""
    events = LoginEvent.objects.filter(user=request.user).order_by("-at", "-id")[:100]
    return render(request, "accounts/login_history.html", {"events": events})


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request):
    """GET asks for confirmation; POST signs out (a link alone cannot sign anyone out)."""
    if request.method == "POST":
        auth_logout(request)
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")
