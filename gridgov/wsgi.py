import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
application = get_wsgi_application()

# A worker whose database can lose acknowledged commits must not boot (SECURITY.md R30):
# gunicorn stops when its workers fail to start.
from gridgov.security.durability import assert_all_databases  # noqa: E402

assert_all_databases()
