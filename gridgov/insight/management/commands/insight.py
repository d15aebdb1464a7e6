"""gridgov insight train|classify|info|scan|export-training|reindex-duplicates

    gridgov insight train --data FILE.csv [--out DIR] [--seed N]
    gridgov insight classify "文本" [--detail "…"] [--top 3]
    gridgov insight classify --csv IN.csv --out OUT.csv
    gridgov insight info
    gridgov insight scan [--dry-run] [--at ISO] [--json] [--rebuild-rollup]
    gridgov insight export-training [--out FILE.csv] [--all] [--since YYYY-MM-DD]
    gridgov insight reindex-duplicates [--prune-only]

`train` reads a CSV with columns title, detail, label (either text may be empty) and writes a
model artefact with its metrics and training-data fingerprint (JSON) into the artefact
directory. `classify` uses the newest artefact there. `--model-dir` overrides the directory
(otherwise settings.GRIDGOV["INSIGHT_MODEL_DIR"], $GRIDGOV_INSIGHT_MODEL_DIR, or
gridgov/insight/models/). `scan` refreshes the hot-spot rollup, runs every enabled
early-warning rule, stores the new warnings (not with --dry-run) and prints what fired.
Bad input ends with a one-line error and exit status 1.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gridgov.commandutils import domain_errors
from gridgov.insight import classifier, training


class Command(BaseCommand):
    help = "智能分析 · Insight: train the message classifier, classify messages"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="{train,classify,info,scan,export-training,reindex-duplicates}")
        sub.required = True

        train = sub.add_parser("train", help="train a model artefact from a labelled CSV (title, detail, label)")
        train.add_argument("--data", required=True, metavar="FILE.csv", help="UTF-8 CSV with columns title, detail, label")
        train.add_argument("--out", metavar="DIR", help="artefact directory (default: the configured model directory)")
        train.add_argument("--seed", type=int, default=0, help="random seed (default 0); same data + seed = same model")

        cl = sub.add_parser("classify", help="classify one text, or a CSV file (title, detail)")
        cl.add_argument("text", nargs="?", help="the message (title and/or description)")
        cl.add_argument("--detail", default="", help="a description to add to the text")
        cl.add_argument("--csv", dest="csv_in", metavar="IN.csv", help="classify a CSV with columns title, detail")
        cl.add_argument("--out", metavar="OUT.csv", help="where to write the CSV with `predicted` and `confidence`")
        cl.add_argument("--top", type=int, default=3, help="how many categories to print (default 3)")
        cl.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of text")
        cl.add_argument("--model-dir", metavar="DIR", help="artefact directory to read")

        info = sub.add_parser("info", help="show the artefact in use and its metrics")
        info.add_argument("--model-dir", metavar="DIR", help="artefact directory to read")

        ex = sub.add_parser("export-training", help="export accepted/corrected cases as training data (title, detail, label)")
        ex.add_argument("--out", metavar="FILE.csv", help="where to write (default: standard output)")
        ex.add_argument("--all", dest="all_categorised", action="store_true",
                        help="also every accepted case with a category, suggested or not")
        ex.add_argument("--since", metavar="YYYY-MM-DD", help="only cases reported on or after this day")

        rx = sub.add_parser("reindex-duplicates", help="rebuild the duplicate keys of the open cases of the window")
        rx.add_argument("--prune-only", action="store_true", help="only delete the keys of closed or too old cases")

        self._add_scan_arguments(sub)

    @domain_errors
    def handle(self, *args, action=None, **o):
        return {"train": self._train, "classify": self._classify, "info": self._info, "scan": self._scan,
                "export-training": self._export_training, "reindex-duplicates": self._reindex}[action](**o)

    # --- train ---------------------------------------------------------------------------

    def _train(self, data, out=None, seed=0, **_):
        artefact = training.train(data, out_dir=out, seed=seed)
        meta = artefact.meta
        cv = meta["cv"]
        fp = meta["training_data"]
        self.stdout.write(f"artefact  {artefact.path}  ({meta['size_bytes'] / 1e6:.1f} MB)")
        self.stdout.write(f"metadata  {artefact.meta_path}")
        self.stdout.write(f"data      {fp['rows_used']} rows used of {fp['rows']}, sha256 {fp['sha256'][:16]}…")
        self.stdout.write(f"cv        macro-F1 {cv['macro_f1']:.4f}  accuracy {cv['accuracy']:.4f}  ({cv['method']})")
        self.stdout.write(f"time      {meta['training_seconds']['total']:.1f} s")

    # --- classify ------------------------------------------------------------------------

    def _classify(self, text=None, detail="", csv_in=None, out=None, top=3, as_json=False, model_dir=None, **_):
        if top < 1:
            raise CommandError("--top must be at least 1")
        if csv_in:
            if text:
                raise CommandError("give either a text or --csv, not both")
            if not out:
                raise CommandError("--csv needs --out OUT.csv")
            return self._classify_csv(csv_in, out, model_dir)
        if out:
            raise CommandError("--out is for --csv only")
        if text is None and not detail:
            raise CommandError('give a text to classify (gridgov insight classify "文本") or --csv IN.csv --out OUT.csv')
        result = classifier.classify(text or "", detail, k=top, directory=model_dir)
        if as_json:
            self.stdout.write(
                json.dumps([{"label": label, "probability": round(p, 4)} for label, p in result], ensure_ascii=False)
            )
            return
        for label, p in result:
            self.stdout.write(f"{p:6.1%}  {label}")

    def _classify_csv(self, path, out, model_dir):
        classifier.get_model(model_dir)  # fail early when there is no model
        header, rows = training.read_rows(path, need_label=False)
        results = classifier.classify_many(
            ((r.get("title") or "", r.get("detail") or "") for r in rows), k=1, directory=model_dir
        )
        columns = header + [c for c in ("predicted", "confidence") if c not in header]
        empty = 0
        for row, res in zip(rows, results):
            row.pop(None, None)  # surplus cells of a ragged row
            if res is None:
                empty += 1
                row["predicted"], row["confidence"] = "", ""
            else:
                row["predicted"], row["confidence"] = res[0][0], f"{res[0][1]:.4f}"
        target = Path(out)
        if target.parent and not target.parent.exists():
            raise CommandError(f"output folder does not exist: {target.parent}")

        def write(tmp):
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

        try:
            training.atomic_write(target, write)
        except OSError as exc:
            raise CommandError(f"cannot write {target}: {exc.strerror}") from None
        self.stdout.write(f"{len(rows)} rows classified → {target}")
        if empty:
            self.stderr.write(self.style.WARNING(f"{empty} rows have neither title nor detail: left without a prediction"))

    # --- info ----------------------------------------------------------------------------

    def _info(self, model_dir=None, **_):
        loaded = classifier.get_model(model_dir)
        meta = loaded.meta
        self.stdout.write(f"artefact  {loaded.path}")
        summary = {k: meta.get(k) for k in ("trained_at", "seed", "labels")}
        summary["training_data"] = {k: meta.get("training_data", {}).get(k) for k in ("sha256", "rows", "label_counts")}
        summary["cv"] = {k: meta.get("cv", {}).get(k) for k in ("macro_f1", "accuracy", "log_loss")}
        self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))

    # --- scan (hot spots and early warning) ------------------------------------------------

    @staticmethod
    def _add_scan_arguments(sub):
        scan = sub.add_parser("scan", help="run the early-warning rules and store what fires")
        scan.add_argument("--dry-run", action="store_true", help="evaluate and print, write nothing")
        scan.add_argument("--at", metavar="ISO", help="evaluate as of this time (ISO 8601; default now, Asia/Shanghai if no zone)")
        scan.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of a table")
        scan.add_argument("--rebuild-rollup", action="store_true", help="rewrite the whole hot-spot rollup first")

    def _scan(self, dry_run=False, at=None, as_json=False, rebuild_rollup=False, **_):
        import datetime as dt

        from django.utils import timezone

        from gridgov.insight import hotspots, warnings

        moment = None
        if at:
            try:
                moment = dt.datetime.fromisoformat(at)
            except ValueError:
                raise CommandError(f"--at must be an ISO 8601 time such as 2026-11-24T10:00+08:00, got {at!r}") from None
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=hotspots.LOCAL)
        if rebuild_rollup and dry_run:
            raise CommandError("--rebuild-rollup writes the rollup: not with --dry-run")
        if rebuild_rollup:
            hotspots.refresh_rollup(at=moment, rebuild=True)
        result = warnings.scan(at=moment, dry_run=dry_run)
        rows = [
            {"rule": f.rule.code, "severity": f.severity, "outcome": f.outcome, "warning": f.warning_id,
             "subject": f.subject_key, "scope": f.scope_path, "title": f.title, "evidence": f.evidence}
            for f in result.firings
        ]
        if as_json:
            payload = {"at": result.at.isoformat(), "dry_run": dry_run, "rollup": result.rollup,
                       "rules": [{"rule": r.rule.code, "kind": r.rule.kind, "fired": len(r.firings), "note": r.note}
                                 for r in result.runs],
                       "firings": rows}
            self.stdout.write(json.dumps(payload, ensure_ascii=False, default=str))
            return
        when = timezone.localtime(result.at).strftime("%Y-%m-%d %H:%M")
        self.stdout.write(f"scan at {when}{' (dry run: nothing written)' if dry_run else ''}")
        for run in result.runs:
            self.stdout.write(f"  {run.rule.code:<18} {len(run.firings):>4} fired{'  (' + run.note + ')' if run.note else ''}")
        if not rows:
            self.stdout.write("nothing fired")
            return
        self.stdout.write("")
        self.stdout.write(f"{'rule':<18} {'severity':<8} {'outcome':<11} {'warning':>7}  title")
        for r in rows:
            self.stdout.write(f"{r['rule']:<18} {r['severity']:<8} {r['outcome']:<11} {r['warning'] or '':>7}  {r['title']}")
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        self.stdout.write(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))

    # --- training data and the duplicate index ---------------------------------------------

    def _export_training(self, out=None, all_categorised=False, since=None, **_):
        import io
        from datetime import date, datetime, time

        from django.utils import timezone

        from gridgov.commandutils import write_output
        from gridgov.insight import intake

        start = None
        if since:
            try:
                start = timezone.make_aware(datetime.combine(date.fromisoformat(since), time.min))
            except ValueError:
                raise CommandError(f"--since 日期格式应为 YYYY-MM-DD：{since} (bad date)") from None
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(intake.TRAINING_COLUMNS), lineterminator="\n")
        writer.writeheader()
        n = 0
        for row in intake.training_rows(all_categorised=all_categorised, since=start):
            writer.writerow(row)
            n += 1
        write_output(self, buf.getvalue(), out)
        if out:
            self.stdout.write(f"{n} rows → {out}")

    def _reindex(self, prune_only=False, **_):
        from gridgov.insight import duplicates

        pruned = duplicates.prune()
        self.stdout.write(f"{pruned} stale keys deleted")
        if not prune_only:
            self.stdout.write(f"{duplicates.reindex()} open cases indexed")
