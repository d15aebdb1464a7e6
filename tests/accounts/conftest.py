"""The small world, plus helpers to sign in through the real pages."""

import re

import pytest
from django.test import Client
from django_otp.oath import TOTP

from tests.factories import build_world

PASSWORD = "Test-pass-2026"  # pragma: allowlist secret


@pytest.fixture
def w(db):
    return build_world()


def browser(ip: str = "10.0.0.1") -> Client:
    """A browser with its own cookie jar, seen by the server at this address."""
    return Client(REMOTE_ADDR=ip)


def login(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def totp_code(device) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():0{device.digits}d}"


def device_for(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="phone", confirmed=True)


def strip_csrf(body: bytes) -> bytes:
    """The page minus its CSRF token, which Django masks differently in every response."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b'name="csrfmiddlewaretoken" value=""', body)
