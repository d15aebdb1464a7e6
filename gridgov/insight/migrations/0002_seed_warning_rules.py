"""The default early-warning rules (data: edit them in the admin)."""

from django.db import migrations

RULES = [
    ("surge", "类别激增（泊松检验）", "surge", {}),
    ("repeat-address", "同一地址重复诉求", "repeat_address", {}),
    ("repeat-reporter", "同一人重复诉求", "repeat_reporter", {}),
    ("escalating-case", "矛盾升级（反复重开/上报/返工）", "escalating_case", {}),
    # Which categories are disputes is a city's own catalogue: list their codes in params.
    ("dispute-cluster", "纠纷类事件集中", "dispute_cluster", {"categories": []}),
    ("overdue-pileup", "部门超期积压", "overdue_pileup", {}),
]


def seed(apps, schema_editor):
    WarningRule = apps.get_model("insight", "WarningRule")
    for code, name, kind, params in RULES:
        WarningRule.objects.get_or_create(code=code, defaults={"name": name, "kind": kind, "params": params})


def unseed(apps, schema_editor):
    apps.get_model("insight", "WarningRule").objects.filter(code__in=[r[0] for r in RULES], warnings__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("insight", "0001_early_warning")]
    operations = [migrations.RunPython(seed, unseed)]
