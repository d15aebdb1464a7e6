"""Operations (运维): what keeps gridgov's data safe — idempotent intake, backups and their
restore drill, and the sweep that reconciles uploaded files with their rows after a crash."""
