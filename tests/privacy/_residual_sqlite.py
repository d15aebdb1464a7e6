"""Run in a child process against a file SQLite database (see test_dsr.py): build the small
world, report a case carrying canaries, anonymise the reporter, leave the files as they are."""

import os
import sys


def main(name: str, phone: str, title: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from gridgov.cases import services as cs
    from tests.factories import build_world

    call_command("migrate", verbosity=0)
    w = build_world()
    cs.report_case(actor=w.users["worker"], channel="patrol", title=title, category=w.cats["litter"], grid=w.grids[0],
                   reporter_name=name, reporter_phone=phone)
    with open(os.devnull, "w") as quiet:
        call_command("privacy", "anonymise", "--phone", phone, "--yes", stdout=quiet)
    connection.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
