"""Seed the role → action table with the rights the code had before they became data."""

from django.db import migrations

# A frozen copy of permissions.DEFAULT_ROLE_ACTIONS as of this migration (later edits are data).
ROLE_ACTIONS = {
    "resident": ["report", "evaluate", "reopen"],
    "grid_worker": ["report", "self_resolve", "verify", "correct_location"],
    "grid_leader": ["report", "self_resolve", "verify", "correct_location", "supervise"],
    "community_staff": [
        "report", "accept", "reject", "merge", "dispatch", "start", "return", "request_extension",
        "feedback", "verify", "close", "self_resolve", "escalate", "callback", "correct_location",
    ],
    "dispatcher": [
        "report", "accept", "reject", "merge", "dispatch", "decide_extension", "close", "supervise",
        "escalate", "hang", "resume", "callback", "reopen", "correct_location",
    ],
    "department_handler": ["start", "return", "request_extension", "feedback"],
    "leader": ["supervise"],
    "auditor": ["read_audit"],
    "system_admin": ["manage_accounts", "manage_config"],
    "security_admin": ["manage_roles"],
}


def seed(apps, schema_editor):
    RoleAction = apps.get_model("accounts", "RoleAction")
    ConfigVersion = apps.get_model("accounts", "ConfigVersion")
    RoleAction.objects.bulk_create(
        [RoleAction(role=role, action=action) for role, actions in ROLE_ACTIONS.items() for action in actions],
        ignore_conflicts=True,
    )
    ConfigVersion.objects.get_or_create(key="role_actions", defaults={"version": 1})


def unseed(apps, schema_editor):
    apps.get_model("accounts", "RoleAction").objects.all().delete()
    apps.get_model("accounts", "ConfigVersion").objects.filter(key="role_actions").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_login_security")]
    operations = [migrations.RunPython(seed, unseed)]
