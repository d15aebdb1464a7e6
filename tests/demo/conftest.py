"""One small demo city per test module, built once and rolled back afterwards, so the
other test modules still start from an empty database."""

import pytest
from django.db import transaction
from django.test import override_settings

from gridgov.demo.builder import build_demo

SEED = 2026
CASES = 150


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from gridgov.cases.calendar import invalidate_calendar_cache

    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("demo-media")):
        with transaction.atomic():
            result = build_demo("small", seed=SEED, cases=CASES)
            yield result
            transaction.set_rollback(True)
        invalidate_calendar_cache()
