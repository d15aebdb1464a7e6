from django.core.management.base import BaseCommand

from gridgov.cases import catalog


class Command(BaseCommand):
    help = "载入内置的 CJ/T 214 事件与部件分类 · Seed the built-in CJ/T 214 categories"

    def handle(self, *args, **o):
        self.stdout.write(f"{catalog.seed_standard_categories()}")
