"""`gridgov check --deploy` lists insecure settings: Django's deployment checks and ours."""

import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def deploy_ids() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True)}


@pytest.fixture
def secure(settings):
    """A deployment as documented: TLS on, key from the environment, DEBUG off."""
    settings.DEBUG = False
    settings.TLS = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECRET_KEY = "k3y-from-the-environment-" + "q8Zr" * 12  # pragma: allowlist secret
    settings.SECRET_KEY_SOURCE = "env"  # pragma: allowlist secret
    settings.ALLOWED_HOSTS = ["gridgov.example.cn"]
    return settings


def test_a_secure_deployment_has_no_findings(secure):
    ids = deploy_ids()
    # W021 (HSTS preload) is an opt-in (GRIDGOV_HSTS_PRELOAD) that needs the domain's submission
    # to browsers' preload lists; W302: data_checksums may be off on the machine's PostgreSQL.
    assert ids <= {"security.W021", "gridgov.W302"}, ids


@pytest.mark.parametrize("change, finding", [
    ({"DEBUG": True}, "gridgov.E310"),
    ({"SECRET_KEY_SOURCE": "generated"}, "gridgov.W311"),  # pragma: allowlist secret
    ({"ALLOWED_HOSTS": ["*"]}, "gridgov.E312"),
    ({"TLS": False, "SECURE_SSL_REDIRECT": False}, "gridgov.W313"),
    ({"TLS": False, "SECURE_SSL_REDIRECT": False}, "security.W008"),
    ({"SECURE_HSTS_SECONDS": 0}, "security.W004"),
    ({"SESSION_COOKIE_SECURE": False}, "security.W012"),
    ({"CSRF_COOKIE_SECURE": False}, "security.W016"),
    ({"SECURE_CSP": {"default-src": ["'self'"], "script-src": ["'self'", "'unsafe-inline'"]}}, "gridgov.E315"),
])
def test_each_insecure_setting_is_listed(secure, change, finding):
    for name, value in change.items():
        setattr(secure, name, value)
    assert finding in deploy_ids()


def test_rate_limits_off_and_csp_middleware_missing_are_errors(secure):
    secure.GRIDGOV = {**secure.GRIDGOV, "RATE_LIMITS_ENABLED": False}
    secure.MIDDLEWARE = [m for m in secure.MIDDLEWARE if "csp" not in m]
    assert {"gridgov.E314", "gridgov.E315"} <= deploy_ids()


def test_the_command_fails_on_an_insecure_configuration(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gridgov.settings", "GRIDGOV_DEBUG": "1", "GRIDGOV_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    env.pop("GRIDGOV_SECRET_KEY", None)
    out = subprocess.run([sys.executable, "-m", "gridgov.cli", "check", "--deploy", "--fail-level", "WARNING"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    for finding in ("gridgov.E310", "gridgov.W311", "gridgov.W313", "security.W004", "security.W012"):
        assert finding in text, finding
