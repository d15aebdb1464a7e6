"""Web security in one place (Web安全): headers, rate limits, upload storage, error pages,
durability assertions and the deploy checks behind `gridgov check --deploy`.

    middleware.py   SecurityHeadersMiddleware (Permissions-Policy, no-store, request size cap),
                    RateLimitMiddleware
    ratelimit.py    the shared fixed-window counter (one upsert per limit and request)
    durability.py   SQLite / PostgreSQL settings asserted on every new connection (R30)
    storage.py      file storage that fsyncs and renames before the database commits
    checks.py       system checks (deploy tag and durability)
    views.py        error handlers: JSON for the API, a Chinese page otherwise, never a trace
"""
