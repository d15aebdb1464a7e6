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


def write_output(command, text: str, path: str | None) -> None:
    """Write a command's export to a file, or to standard output when no path is given;
    an unwritable path is a clear CommandError."""
    if not path:
        command.stdout.write(text, ending="" if text.endswith("\n") else "\n")
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CommandError(f"无法写入 {path}：{exc.strerror} (cannot write {path})") from None
