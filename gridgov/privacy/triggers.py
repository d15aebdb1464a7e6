"""Database triggers that make the audit tables append-only (R15).

PostgreSQL: UPDATE is always refused; DELETE only inside the controlled retention purge
(the transaction-local setting ``gridgov.audit_gate`` names a cutoff, and the row must be
older than both that cutoff and 180 days by the database's own clock); TRUNCATE only of
an empty table (so a test database can still be flushed). Privileges do the rest:
``gridgov audit grant`` leaves the application role INSERT and SELECT only.

SQLite: the same rules; the purge cutoff comes from the connection function
``gridgov_audit_gate()`` that `gridgov.privacy.apps` registers on each connection.
A raw ``sqlite3`` shell has no such function, so its DELETE fails too.

The migration that installs them imports this module: change the SQL only together with
a new migration that re-installs it.
"""

TABLES = ("privacy_auditrecord", "privacy_auditcheckpoint")
MIN_RETENTION_DAYS = 180

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION gridgov_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gate text := coalesce(current_setting('gridgov.audit_gate', true), '');
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'privacy_auditrecord' AND gate LIKE 'purge:%'
       AND OLD.at < substr(gate, 7)::timestamptz
       AND OLD.at < now() - interval '__MIN_DAYS__ days' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', TG_TABLE_NAME) INTO STRICT gate;
        IF gate = 'true' THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'gridgov: the audit log is append-only (% on % refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
""".replace("__MIN_DAYS__", str(MIN_RETENTION_DAYS))


def _pg_statements(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
        + "EXECUTE FUNCTION gridgov_audit_guard()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
        + "EXECUTE FUNCTION gridgov_audit_guard()",
    ]


def _sqlite_statements(table: str) -> list[str]:
    refuse = "SELECT RAISE(ABORT, 'gridgov: the audit log is append-only');"
    delete_when = "1"
    if table == "privacy_auditrecord":
        delete_when = (
            "gridgov_audit_gate() IS NULL OR OLD.at >= gridgov_audit_gate() "
            f"OR OLD.at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-{MIN_RETENTION_DAYS} days')"
        )
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN {refuse} END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} WHEN {delete_when} BEGIN {refuse} END",
    ]


def install(connection) -> None:
    """Create (or re-create) the triggers on this connection's database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for table in TABLES:
                for sql in _pg_statements(table):
                    cursor.execute(sql)
        elif connection.vendor == "sqlite":
            for table in TABLES:
                for sql in _sqlite_statements(table):
                    cursor.execute(sql)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS gridgov_audit_guard()")
        elif connection.vendor == "sqlite":
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
