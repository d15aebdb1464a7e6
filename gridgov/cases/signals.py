"""Signals of the cases app, for higher apps (insight, …) that react to a case without the
cases app importing them (imports go `cases` ← `insight`, never the other way)."""

from django.dispatch import Signal

# Sent by intake inside its transaction, once the case, its photos and its first timeline
# entry are written; keyword argument `case`. A receiver that fails rolls the report back, so
# receivers must not raise for anything but a broken database.
case_reported = Signal()
