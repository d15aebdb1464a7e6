"""Durability settings asserted on every new database connection (耐久性, SECURITY.md R30).

A commit that the application acknowledges must survive a crash of the process, of the
database and of the machine. That depends on settings outside the code, so every process
checks them on each new connection and refuses to work otherwise (ImproperlyConfigured):
gunicorn workers fail to boot (wsgi.py connects at import), task workers and management
commands stop at their first query, and `gridgov check --database default` reports
gridgov.E301.

SQLite:      journal_mode=WAL, synchronous=FULL (or EXTRA), foreign_keys=ON, secure_delete=ON,
             busy_timeout > 0. An in-memory database (the test suite's) has journal_mode
             "memory" — it holds nothing across a crash anyway — and is accepted.
PostgreSQL:  fsync, full_page_writes on; synchronous_commit not off (on, local, remote_write and
             remote_apply all wait for the local WAL flush). data_checksums off is only a
             warning: it is fixed at initdb time (`initdb -k` or `pg_checksums --enable` with the
             server stopped) and many existing clusters, this project's CI included, lack it.

GRIDGOV_UNSAFE_ALLOW_NON_DURABLE=1 skips the refusal for crash-loss experiments; the deploy
check reports it as an error.
"""

import logging
import os

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("gridgov.security")

SQLITE_REQUIRED = {
    "journal_mode": ({"wal"}, "WAL"),
    "synchronous": ({2, 3}, "FULL (2)"),
    "foreign_keys": ({1}, "ON (1)"),
    "secure_delete": ({1}, "ON (1)"),
}
PG_REQUIRED = {
    "fsync": {"on"},
    "full_page_writes": {"on"},
    "synchronous_commit": {"on", "local", "remote_write", "remote_apply"},
}
_warned: set[str] = set()


def unsafe_allowed() -> bool:
    return os.environ.get("GRIDGOV_UNSAFE_ALLOW_NON_DURABLE", "").strip().lower() in {"1", "true", "yes", "on"}


def _sqlite_in_memory(connection) -> bool:
    return connection.creation.is_in_memory_db(connection.settings_dict["NAME"])


def inspect(connection) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the connection's durability settings, read from the server."""
    problems, warnings = [], []
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            for pragma, (allowed, wanted) in SQLITE_REQUIRED.items():
                value = cursor.execute(f"PRAGMA {pragma}").fetchone()[0]  # names from the constant above
                value = value.lower() if isinstance(value, str) else value
                if pragma == "journal_mode" and value == "memory" and _sqlite_in_memory(connection):
                    continue
                if value not in allowed:
                    problems.append(f"SQLite PRAGMA {pragma} is {value!r}, must be {wanted}")
            timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            if not timeout:
                problems.append("SQLite PRAGMA busy_timeout is 0: concurrent writers fail at once instead of waiting")
        elif vendor == "postgresql":
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'full_page_writes', 'synchronous_commit', 'data_checksums')"
            )
            values = dict(cursor.fetchall())
            for name, allowed in PG_REQUIRED.items():
                if values.get(name) not in allowed:
                    problems.append(f"PostgreSQL {name} is {values.get(name)!r}, must be one of {sorted(allowed)}")
            if values.get("data_checksums") != "on":
                warnings.append("PostgreSQL data_checksums is off: storage corruption goes undetected "
                                "(initdb -k, or pg_checksums --enable with the server stopped)")
        else:
            problems.append(f"database vendor {vendor!r} is not supported: its durability cannot be checked")
    return problems, warnings


def assert_durable(connection) -> None:
    """Raise ImproperlyConfigured if the connection's settings can lose acknowledged commits."""
    problems, warnings = inspect(connection)
    for warning in warnings:
        if warning not in _warned:  # once per process, not per connection
            _warned.add(warning)
            logger.warning("%s (database %s)", warning, connection.alias)
    if problems and unsafe_allowed():
        logger.error("NON-DURABLE database %s accepted by GRIDGOV_UNSAFE_ALLOW_NON_DURABLE: %s", connection.alias,
                     "; ".join(problems))
        return
    if problems:
        # Close it, so the next use connects (and checks) again instead of reusing it.
        connection.close()
        raise ImproperlyConfigured(
            f"数据库 {connection.alias} 的持久性设置不安全，拒绝启动 / database {connection.alias!r} is not durable, "
            "refusing to run: " + "; ".join(problems)
        )


def on_connection_created(sender, connection, **kwargs) -> None:
    assert_durable(connection)


def assert_all_databases() -> None:
    """Connect to every configured database now (start-up), so a bad one stops the process."""
    from django.db import connections

    for alias in connections:
        connections[alias].ensure_connection()
        connections[alias].close()  # not shared with processes forked later (gunicorn --preload)
