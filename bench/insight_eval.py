"""Insight evaluation: classifier cross-validation, timings, and duplicate detection on real messages.

    .venv/bin/python bench/insight_eval.py [--data ../shared/data/messages/train.csv] [--folds 5] [--seed 0]
                                           [--latency-n 1000] [--ungrouped] [--quick] [--skip-duplicates]

Prints, for the baseline (character 1–3-gram TF-IDF + LinearSVC, scikit-learn defaults) and
the insight model (see docs/insight.md), the k-fold cross-validated macro-F1 and accuracy with
folds grouped by duplicate text (StratifiedGroupKFold: a message and its copies are never on
both sides), their ratio, per-source figures, per-class F1 and the model's confusion matrix;
then the training time on the whole file, the artefact size, the cold start (model load,
jieba initialisation, in a fresh process) and the per-message prediction latency on one core
after warm-up (median, p99); then the duplicate precision/recall of the text rule on the
hand-labelled pairs of messages_with_votes.csv (see bench/duplicates.py for how they were
labelled, and for the generated city with locations and the lookup timings). The last line is
one JSON object with the figures.

Runs on one core: BLAS threads limited to 1 and the process pinned to one CPU where the OS
allows it. `--quick` uses 1,500 messages and 3 folds (a smoke run, not a figure to report).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "messages" / "train.csv"


def _pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):  # not Linux
        return "not pinned"


def _cv(name, fit_predict, texts, labels, folds, sources, classes):
    import numpy as np

    from gridgov.insight.training import metrics

    predicted = np.empty(len(labels), dtype=object)
    start = time.perf_counter()
    for i, (train, test) in enumerate(folds, 1):
        predicted[test] = fit_predict(train, test)
        print(f"  {name}: fold {i}/{len(folds)} done ({time.perf_counter() - start:.0f} s)", flush=True)
    m = metrics(labels, predicted, classes)
    m["seconds"] = round(time.perf_counter() - start, 1)
    m["by_source"] = {}
    for s in sorted(set(sources)):
        k = sources == s
        sub = metrics(labels[k], predicted[k], classes)
        m["by_source"][s] = {"n": int(k.sum()), "macro_f1": sub["macro_f1"], "accuracy": sub["accuracy"]}
    return m


def _print_confusion(m):
    labels = m["labels"]
    width = max(len(x) for x in labels)
    print("  confusion matrix (rows: true, columns: predicted, in the order of the rows)")
    for i, row in enumerate(m["confusion_matrix"]):
        name = labels[i] + "\u3000" * (width - len(labels[i]))
        print(f"  {name} " + " ".join(f"{v:5d}" for v in row))


def _cold_start(model_dir: Path) -> dict:
    code = (
        f"import time,sys;sys.path.insert(0,{str(ROOT)!r});t=time.perf_counter();"
        "from gridgov.insight import classifier,features;t1=time.perf_counter();"
        f"classifier.get_model({str(model_dir)!r});t2=time.perf_counter();features.jieba_tokenizer();t3=time.perf_counter();"
        f"classifier.classify('路灯不亮','',directory={str(model_dir)!r});t4=time.perf_counter();"
        "print(t1-t,t2-t1,t3-t2,t4-t3)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode:
        sys.exit(f"cold-start measurement failed:\n{proc.stderr}")
    out = proc.stdout.split()
    imp, load, jb, first = map(float, out)
    return {
        "import_s": round(imp, 3),
        "model_load_s": round(load, 3),
        "jieba_init_s": round(jb, 3),
        "first_call_s": round(first, 4),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency-n", type=int, default=1000, help="messages timed")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timed message (the fastest counts)")
    ap.add_argument("--ungrouped", action="store_true", help="also the baseline with plain (leaky) stratified folds")
    ap.add_argument("--quick", action="store_true", help="1,500 messages, 3 folds: a smoke run")
    ap.add_argument("--skip-duplicates", action="store_true", help="leave out the duplicate precision/recall")
    args = ap.parse_args(argv)

    pinned = _pin_one_core()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    from gridgov.insight import classifier, features, training

    if not Path(args.data).exists():
        sys.exit(f"no data at {args.data}")
    data = training.read_training_csv(args.data)
    sources = np.array([s or "-" for s in data.sources], dtype=object)
    titles, details, labels = data.titles, data.details, data.labels
    if args.quick:
        rng = random.Random(args.seed)
        keep = sorted(rng.sample(range(len(labels)), min(1500, len(labels))))
        titles = [titles[i] for i in keep]
        details = [details[i] for i in keep]
        labels, sources = labels[keep], sources[keep]
        args.folds = min(args.folds, 3)
    texts = [features.message_text(t, d) for t, d in zip(titles, details)]
    groups = features.duplicate_groups(titles, details)
    classes = np.array(sorted(set(labels)), dtype=object)
    print(f"data: {args.data}")
    print(f"  {len(labels)} messages, {len(set(groups))} distinct after grouping duplicates; {pinned}")
    print(f"  labels: {dict(Counter(labels).most_common())}")
    print(f"  sources: {dict(Counter(sources).most_common())}")

    folds = list(StratifiedGroupKFold(args.folds, shuffle=True, random_state=args.seed).split(texts, labels, groups))
    T = np.array(texts, dtype=object)

    print(f"\n{args.folds}-fold cross-validation, folds grouped by duplicate text")

    def baseline(train, test):
        return training.fit_baseline(list(T[train]), labels[train], seed=args.seed).predict(list(T[test]))

    proba = np.zeros((len(labels), len(classes)))

    def model(train, test):
        fitted = training.fit_model(list(T[train]), labels[train], groups[train], seed=args.seed).model
        assert list(fitted.classes_) == list(classes)
        proba[test] = fitted.predict_proba(list(T[test]))
        return classes[proba[test].argmax(axis=1)]

    base_m = _cv("baseline", baseline, texts, labels, folds, sources, classes)
    model_m = _cv("model", model, texts, labels, folds, sources, classes)
    ungrouped = None
    if args.ungrouped:
        plain = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(texts, labels))
        ungrouped = _cv("baseline, ungrouped folds", baseline, texts, labels, plain, sources, classes)

    print()
    print(f"{'':28s} {'macro-F1':>9s} {'accuracy':>9s}")
    print(f"{'baseline (char TF-IDF+SVM)':28s} {base_m['macro_f1']:9.4f} {base_m['accuracy']:9.4f}")
    print(f"{'insight model':28s} {model_m['macro_f1']:9.4f} {model_m['accuracy']:9.4f}")
    ratio = model_m["macro_f1"] / base_m["macro_f1"]
    err_cut = 1 - (1 - model_m["macro_f1"]) / (1 - base_m["macro_f1"])
    print(
        f"ratio model/baseline macro-F1: {ratio:.4f} (+{model_m['macro_f1'] - base_m['macro_f1']:.4f}; {err_cut:.1%} fewer F1 errors)"
    )
    if ungrouped:
        print(
            f"(baseline with ungrouped, leaky folds: macro-F1 {ungrouped['macro_f1']:.4f}, accuracy {ungrouped['accuracy']:.4f})"
        )
    print("\nby source (macro-F1 baseline → model):")
    for s, v in model_m["by_source"].items():
        print(f"  {s:8s} n={v['n']:5d}  {base_m['by_source'][s]['macro_f1']:.4f} → {v['macro_f1']:.4f}")
    print("\nper class F1 (baseline → model):")
    for c in model_m["labels"]:
        print(
            f"  {c}\t{base_m['per_class'][c]['f1']:.4f} → {model_m['per_class'][c]['f1']:.4f}  (n={model_m['per_class'][c]['support']})"
        )
    print("\nmodel:")
    _print_confusion(model_m)
    calib = training.calibration(labels, proba, classes)
    print(f"  calibration of its probabilities: log-loss {calib['log_loss']}, expected calibration error {calib['ece']}")
    for b in calib["bins"]:
        print(
            f"    confidence {b['from']:.1f}+  n={b['n']:5d}  mean confidence {b['confidence']:.3f}  accuracy {b['accuracy']:.3f}"
        )
    cover = {}
    for threshold in (0.5, 0.7, 0.9):
        k = proba.max(axis=1) >= threshold
        acc = float((classes[proba[k].argmax(axis=1)] == labels[k]).mean()) if k.any() else float("nan")
        cover[str(threshold)] = {"share": round(float(k.mean()), 4), "accuracy": round(acc, 4)}
        print(f"  confidence ≥ {threshold}: {k.mean():.1%} of messages, accuracy {acc:.4f}")

    # Training on everything, and the artefact.
    import csv

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sub = tmp / "train.csv"
        with open(sub, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["title", "detail", "label"])
            w.writerows(zip(titles, details, labels))
        start = time.perf_counter()
        artefact = training.train(sub, out_dir=tmp / "models", seed=args.seed)
        train_s = time.perf_counter() - start
        size = artefact.path.stat().st_size
        print(f"\ntraining on all {len(labels)} messages: {train_s:.1f} s (fit {artefact.meta['training_seconds']})")
        print(f"artefact: {size / 1e6:.2f} MB")

        cold = _cold_start(tmp / "models")
        print(f"cold start (fresh process): {cold}")

        classifier.clear_cache()
        classifier.classify("预热", "", directory=tmp / "models")
        for t, d in zip(titles[:50], details[:50]):
            if features.message_text(t, d):
                classifier.classify(t, d, directory=tmp / "models")
        rng = random.Random(args.seed + 1)
        idx = rng.sample(range(len(labels)), min(args.latency_n, len(labels)))
        # Each message is classified `--repeat` times, its jieba memo cleared before each run;
        # "best" keeps its fastest run (what the code costs), "first" its first run (what a
        # shared, busy machine adds to it).
        lat, first = [], []
        for i in idx:
            runs = []
            for _ in range(args.repeat):
                features._words.cache_clear()
                start = time.perf_counter()
                classifier.classify(titles[i], details[i], directory=tmp / "models")
                runs.append(time.perf_counter() - start)
            lat.append(min(runs))
            first.append(runs[0])
        lat_ms, first_ms = np.array(lat) * 1000, np.array(first) * 1000
        by_src = {}
        src_idx = sources[idx]
        for s in sorted(set(src_idx)):
            k = src_idx == s
            by_src[s] = {
                "n": int(k.sum()),
                "median_ms": round(float(np.median(lat_ms[k])), 3),
                "p99_ms": round(float(np.percentile(lat_ms[k], 99)), 3),
            }
        latency = {
            "n": len(lat_ms),
            "median_ms": round(float(np.median(lat_ms)), 3),
            "p99_ms": round(float(np.percentile(lat_ms, 99)), 3),
            "max_ms": round(float(lat_ms.max()), 3),
            "by_source": by_src,
            "first_run_median_ms": round(float(np.median(first_ms)), 3),
            "first_run_p99_ms": round(float(np.percentile(first_ms, 99)), 3),
        }
        print(f"prediction latency, one message at a time, warm, one core, best of {args.repeat} per message:")
        print(f"  median {latency['median_ms']} ms, p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms; by source {by_src}")
        print(f"  first runs only: median {latency['first_run_median_ms']} ms, p99 {latency['first_run_p99_ms']} ms")

    # Duplicate detection (issue 5 §2), the text part on the real messages: the same evaluation as
    # bench/duplicates.py (hand-labelled pairs, stratum-weighted); the generated city with
    # locations and the database timings are in bench/duplicates.py.
    duplicates = None
    if args.skip_duplicates:
        print("\nduplicates: skipped (--skip-duplicates)")
    else:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
        django.setup()
        sys.path.insert(0, str(ROOT / "bench"))
        from duplicates import text_eval  # bench/duplicates.py

        print("\nduplicates, text only (messages_with_votes.csv, hand-labelled pairs; see bench/duplicates.py):")
        duplicates = text_eval()
        for t, m in duplicates["by_threshold"].items():
            print(f"  Jaccard ≥ {t}: precision {m['precision']}, recall {m['recall']}")

    result = {
        "bench": "insight_eval",
        "data_sha256": data.fingerprint["sha256"] if not args.quick else None,
        "n": len(labels),
        "folds": args.folds,
        "grouped_folds": True,
        "seed": args.seed,
        "baseline": {"macro_f1": base_m["macro_f1"], "accuracy": base_m["accuracy"]},
        "model": {"macro_f1": model_m["macro_f1"], "accuracy": model_m["accuracy"]},
        "ratio_macro_f1": round(ratio, 4),
        "baseline_ungrouped": {"macro_f1": ungrouped["macro_f1"], "accuracy": ungrouped["accuracy"]} if ungrouped else None,
        "model_by_source": model_m["by_source"],
        "confusion_matrix": {"labels": model_m["labels"], "matrix": model_m["confusion_matrix"]},
        "calibration": {"log_loss": calib["log_loss"], "ece": calib["ece"], "by_confidence": cover},
        "training_s": round(train_s, 1),
        "artefact_mb": round(size / 1e6, 2),
        "cold_start": cold,
        "latency": latency,
        "duplicates": duplicates,
        "quick": args.quick,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
