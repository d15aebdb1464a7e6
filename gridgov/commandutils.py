"""Shared bits of gridgov's management commands."""

import functools

from django.core.management.base import CommandError

from gridgov.errors import DomainError


def domain_errors(handle):
    """Turn a DomainError into a CommandError: a clear message and a non-zero exit, no traceback."""

    @functools.wraps(handle)
    def wrapper(self, *args, **options):
        try:
            return handle(self, *args, **options)
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} ({exc.message_en})") from None

    return wrapper
