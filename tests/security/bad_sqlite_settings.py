"""gridgov's settings with SQLite's synchronous=NORMAL: durable across a crash of the
process, not across a power loss. The durability tests start the application with it."""

from gridgov.settings import *  # noqa: F403
from gridgov.settings import DATABASES

DATABASES = {
    "default": {
        **DATABASES["default"],
        "OPTIONS": {
            **DATABASES["default"].get("OPTIONS", {}),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=10000;",
        },
    }
}
