"""Training the message classifier: reading a labelled CSV, fitting the stacked model, writing
the artefact with its metrics and training-data fingerprint.

Training file (UTF-8 CSV, RFC 4180, a header row; other columns are ignored):

    title   the message's title (may be empty)
    detail  the message's description (may be empty)
    label   the category name the model learns (here the first-level category)

A file needs `label` and at least one of `title`/`detail`. Rows with an empty label, or with
both texts empty, are skipped and counted. `../shared/data/messages/train.csv` has this layout;
a city exports its closed cases (title, description, final category) in it and retrains.

The model (see `fit_model`):

1. text = normalised title + detail (`features.message_text`);
2. features: TF-IDF of character 1–3-grams and of jieba search-mode words (sublinear tf,
   min_df 2, float32);
3. base models: LinearSVC and ComplementNB on each feature set;
4. a multinomial logistic regression on the base models' out-of-fold scores (5 folds grouped by
   duplicate text, seeded) stacks them and calibrates the probabilities;
5. everything is linear, so it is folded into one `LinearTextModel` layer.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridgov.errors import InvalidInput

from . import features

LABEL_COLUMN = "label"
TEXT_COLUMNS = ("title", "detail")
ARTEFACT_PREFIX = "insight-"
ARTEFACT_SUFFIX = ".joblib"
N_SPLITS = 5


class InsightError(InvalidInput):
    code = "insight_invalid"


# --- reading -------------------------------------------------------------------------------


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_csv(path, *, encoding="utf-8-sig"):
    """Open a CSV for reading with a clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise InsightError(f"文件不存在：{path}", f"file not found: {path}", code="file_not_found")
    if not path.is_file():
        raise InsightError(f"不是文件：{path}", f"not a file: {path}", code="not_a_file")
    try:
        return open(path, newline="", encoding=encoding)
    except OSError as exc:
        raise InsightError(f"无法读取文件 {path}：{exc.strerror}", f"cannot read {path}: {exc.strerror}") from None


def read_rows(path, *, need_label: bool, encoding="utf-8-sig") -> tuple[list[str], list[dict]]:
    """(header, rows) of a CSV that has at least one text column (and `label` when asked)."""
    with open_csv(path, encoding=encoding) as fh:
        try:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
        except UnicodeDecodeError:
            raise InsightError(
                f"文件不是 {encoding} 编码：{path}", f"{path} is not {encoding} text (save it as UTF-8)", code="bad_encoding"
            ) from None
        except csv.Error as exc:
            raise InsightError(f"CSV 格式错误：{exc}", f"malformed CSV {path}: {exc}", code="bad_csv") from None
    missing = []
    if not any(c in header for c in TEXT_COLUMNS):
        missing.append("title/detail")
    if need_label and LABEL_COLUMN not in header:
        missing.append(LABEL_COLUMN)
    if missing:
        cols = ", ".join(missing)
        raise InsightError(
            f"缺少列：{cols}（现有列：{', '.join(header) or '无'}）",
            f"missing column(s): {cols} (the file has: {', '.join(header) or 'none'})",
            code="missing_columns",
        )
    return header, rows


@dataclass
class TrainingData:
    titles: list[str]
    details: list[str]
    labels: np.ndarray
    fingerprint: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # the optional `source` column (train.csv has one)

    @property
    def texts(self) -> list[str]:
        return [features.message_text(t, d) for t, d in zip(self.titles, self.details)]

    @property
    def groups(self) -> np.ndarray:
        return features.duplicate_groups(self.titles, self.details)

    def __len__(self):
        return len(self.labels)


def read_training_csv(path) -> TrainingData:
    """Read and check a training file; the fingerprint names exactly what the model learnt from."""
    _, rows = read_rows(path, need_label=True)
    titles, details, labels, sources = [], [], [], []
    skipped = Counter()
    for row in rows:
        label = (row.get(LABEL_COLUMN) or "").strip()
        title, detail = row.get("title") or "", row.get("detail") or ""
        if not label:
            skipped["empty_label"] += 1
            continue
        if not features.message_text(title, detail):
            skipped["empty_text"] += 1
            continue
        titles.append(title)
        details.append(detail)
        labels.append(label)
        sources.append((row.get("source") or "").strip())
    data = TrainingData(titles, details, np.array(labels, dtype=object), sources=sources)
    check_trainable(data.labels)
    counts = Counter(labels)
    data.fingerprint = {
        "file": str(Path(path).resolve()),
        "sha256": sha256_file(path),
        "rows": len(rows),
        "rows_used": len(labels),
        "rows_skipped": dict(skipped),
        "label_counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    return data


def check_trainable(labels) -> None:
    counts = Counter(labels)
    if len(counts) < 2:
        raise InsightError(
            "训练数据至少需要两个类别",
            f"the training data needs at least two categories (found {len(counts)})",
            code="too_few_classes",
        )
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise InsightError(
            f"每个类别至少需要 2 条样本：{', '.join(rare)}",
            f"every category needs at least 2 examples; these have 1: {', '.join(rare)}",
            code="too_few_examples",
        )


# --- fitting -------------------------------------------------------------------------------


def _char_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2, dtype=np.float32)


def _word_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=features.words, sublinear_tf=True, min_df=2, dtype=np.float32)


def _fit_vectorizer(make, texts):
    """Fit; fall back to min_df=1 on a tiny corpus where no term occurs twice."""
    vec = make()
    try:
        return vec, vec.fit_transform(texts)
    except ValueError:
        vec = make().set_params(min_df=1)
        return vec, vec.fit_transform(texts)


def _base_models(seed):
    """(feature set, name, factory): the linear base models that are stacked."""
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    return [
        ("char", "svm_char", lambda: LinearSVC(C=1.0, class_weight="balanced", random_state=seed)),
        ("word", "svm_word", lambda: LinearSVC(C=1.0, class_weight="balanced", random_state=seed)),
        ("char", "cnb_char", lambda: ComplementNB(alpha=0.3)),
        ("word", "cnb_word", lambda: ComplementNB(alpha=0.3)),
    ]


def _linear_form(model, classes):
    """(W, b) with scores = X·W + b for a fitted base model, over all `classes` in order.

    LinearSVC: its coefficients. ComplementNB: its joint log-likelihood X·feature_log_prob_ᵀ
    (scikit-learn adds no prior for two or more classes), centred per row (a linear map too)."""
    from sklearn.naive_bayes import ComplementNB

    k = len(classes)
    if isinstance(model, ComplementNB):
        w = model.feature_log_prob_.T.astype(np.float64)
        w = w - w.mean(axis=1, keepdims=True)
        b = np.zeros(w.shape[1])
    else:
        w, b = model.coef_.T.astype(np.float64), model.intercept_.astype(np.float64)
        if len(model.classes_) == 2:  # binary LinearSVC: one column, score for the second class
            w = np.hstack([-w / 2, w / 2])
            b = np.array([-b[0] / 2, b[0] / 2])
    # A class absent from a training fold gets a very low score in that fold.
    full_w = np.zeros((w.shape[0], k))
    full_b = np.full(k, -10.0)
    index = [list(classes).index(c) for c in model.classes_]
    full_w[:, index] = w
    full_b[index] = b
    return full_w, full_b


def _folds(labels, groups, seed, n_splits=N_SPLITS):
    """Stratified folds that keep duplicate groups together; fewer folds on a small data set."""
    from sklearn.model_selection import StratifiedGroupKFold

    smallest = min(Counter(labels).values())
    n = max(2, min(n_splits, smallest, len(set(groups))))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "The least populated class has only …"
        return list(StratifiedGroupKFold(n, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels, groups))


@dataclass
class FitResult:
    model: features.LinearTextModel
    oof_proba: np.ndarray  # stacked probabilities estimated out of fold (for metrics)
    classes: np.ndarray
    seconds: dict


def fit_model(texts, labels, groups, seed: int = 0) -> FitResult:
    """Fit the stacked model on normalised texts; deterministic for a given seed.

    Runs on one core (BLAS threads limited to 1): on a shared machine extra threads only
    contend, and one thread keeps the result independent of the machine's core count."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_model(texts, labels, groups, seed)


def _fit_model(texts, labels, groups, seed):
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    labels = np.asarray(labels, dtype=object)
    classes = np.array(sorted(set(labels)), dtype=object)
    char_vec, xc = _fit_vectorizer(_char_vectorizer, texts)
    word_vec, xw = _fit_vectorizer(_word_vectorizer, texts)
    X = {"char": xc.tocsr(), "word": xw.tocsr()}
    t_features = time.perf_counter() - t0

    base = _base_models(seed)
    folds = _folds(labels, groups, seed)
    k = len(classes)
    oof = np.zeros((len(labels), k * len(base)))
    for train, test in folds:
        for j, (fs, _name, make) in enumerate(base):
            m = make().fit(X[fs][train], labels[train])
            w, b = _linear_form(m, classes)
            oof[test, j * k : (j + 1) * k] = X[fs][test] @ w + b
    t_oof = time.perf_counter() - t0 - t_features
    # One scale per base model (the spread of its out-of-fold scores) so that the meta model
    # sees comparable inputs and converges in a few dozen iterations; folded back below.
    scale = np.array([oof[:, j * k : (j + 1) * k].std() or 1.0 for j in range(len(base))])
    oof = oof / np.repeat(scale, k)

    def meta_model():
        return LogisticRegression(C=1.0, max_iter=5000)

    # Out-of-fold estimate of the stacked model (the meta model is cross-validated over the same
    # folds on the base models' out-of-fold scores): the metrics written beside the artefact.
    oof_proba = np.zeros((len(labels), k))
    for train, test in folds:
        mm = meta_model().fit(oof[train], labels[train])
        idx = [list(classes).index(c) for c in mm.classes_]
        oof_proba[np.ix_(test, idx)] = mm.predict_proba(oof[test])
    meta = meta_model().fit(oof, labels)
    assert list(meta.classes_) == list(classes)  # invariant of the fitted model  # noqa: S101  # nosec B101
    t_meta = time.perf_counter() - t0 - t_features - t_oof

    # Final base models on all data, folded with the meta model into one linear layer:
    # logits = sum_j (X_j·W_j + b_j)·A_j + c, A_j = the meta coefficients of base model j.
    A = meta.coef_.T if k > 2 else np.hstack([-meta.coef_.T / 2, meta.coef_.T / 2])
    c = meta.intercept_ if k > 2 else np.array([-meta.intercept_[0] / 2, meta.intercept_[0] / 2])
    W = {"char": np.zeros((xc.shape[1], k)), "word": np.zeros((xw.shape[1], k))}
    bias = np.array(c, dtype=np.float64)
    for j, (fs, _name, make) in enumerate(base):
        m = make().fit(X[fs], labels)
        w, b = _linear_form(m, classes)
        Aj = A[j * k : (j + 1) * k] / scale[j]
        W[fs] += w @ Aj
        bias += b @ Aj
    model = features.LinearTextModel.from_sklearn(char_vec, word_vec, classes, W["char"], W["word"], bias)
    seconds = {
        "features": round(t_features, 2),
        "out_of_fold": round(t_oof, 2),
        "stacking": round(t_meta, 2),
        "total": round(time.perf_counter() - t0, 2),
    }
    return FitResult(model, oof_proba, classes, seconds)


def fit_baseline(texts, labels, seed: int = 0):
    """The baseline to beat: character 1–3-gram TF-IDF + LinearSVC, scikit-learn defaults."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3)), LinearSVC(random_state=seed)).fit(texts, labels)


def metrics(labels, predicted, classes) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(labels, predicted, labels=list(classes), zero_division=0)
    return {
        "macro_f1": round(float(f1_score(labels, predicted, labels=list(classes), average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "per_class": {
            str(c): {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, c in enumerate(classes)
        },
        "labels": [str(c) for c in classes],
        "confusion_matrix": confusion_matrix(labels, predicted, labels=list(classes)).tolist(),
    }


# --- the artefact --------------------------------------------------------------------------


def _versions() -> dict:
    import jieba
    import joblib
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "jieba": jieba.__version__,
        "joblib": joblib.__version__,
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder and rename it into place, so that a
    reader never sees half a file; permissions as a plain open() would give (mkstemp's are 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class TrainedArtefact:
    path: Path
    meta_path: Path
    meta: dict


def train(data_path, out_dir=None, seed: int = 0) -> TrainedArtefact:
    """Read the file, fit, and write `insight-<UTC time>-<sha8>.joblib` and its `.json` beside it."""
    import joblib

    from .classifier import model_dir

    data = read_training_csv(data_path)
    out = Path(out_dir) if out_dir else model_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InsightError(f"无法创建目录 {out}：{exc.strerror}", f"cannot create {out}: {exc.strerror}") from None
    texts = data.texts
    result = fit_model(texts, data.labels, data.groups, seed=seed)
    classes = result.classes
    oof_pred = classes[result.oof_proba.argmax(axis=1)]
    now = dt.datetime.now(dt.UTC)
    stem = f"{ARTEFACT_PREFIX}{now:%Y%m%dT%H%M%SZ}-{data.fingerprint['sha256'][:8]}-s{seed}"
    path = out / f"{stem}{ARTEFACT_SUFFIX}"
    meta_path = out / f"{stem}.json"
    meta = {
        "artefact": path.name,
        "format_version": features.LinearTextModel.format_version,
        "trained_at": now.isoformat(timespec="seconds"),
        "seed": seed,
        "command": f"gridgov insight train --data {data_path} --seed {seed}" + (f" --out {out_dir}" if out_dir else ""),
        "training_data": data.fingerprint,
        "labels": [str(c) for c in classes],
        "model": {
            "text": f"NFKC + whitespace-normalised title + ' ' + detail, first {features.MAX_CHARS} characters "
            f"(words: first {features.WORD_CHARS})",
            "features": {
                "char_1_3_tfidf": len(result.model.char_keys),
                "jieba_search_word_tfidf": len(result.model.word_vocab),
            },
            "base_models": [name for _fs, name, _make in _base_models(seed)],
            "stacking": "multinomial logistic regression on out-of-fold base scores, folded into one float32 linear layer",
        },
        "cv": {
            "method": f"{len(_folds(data.labels, data.groups, seed))}-fold StratifiedGroupKFold (groups = shared normalised title or detail), "
            "stacked out-of-fold estimate",
            **metrics(data.labels, oof_pred, classes),
            **calibration(data.labels, result.oof_proba, classes),
        },
        "training_seconds": result.seconds,
        "versions": _versions(),
    }
    payload = {
        "format_version": features.LinearTextModel.format_version,
        "text_config": features.text_config(),
        "model": result.model,
        "meta": meta,
    }
    try:
        atomic_write(path, lambda tmp: joblib.dump(payload, tmp, compress=3))
        meta["size_bytes"] = path.stat().st_size
        atomic_write(
            meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        )
        # The model file's time is what "newest" means: make it no older than its JSON.
        os.utime(path)
    except OSError as exc:
        raise InsightError(
            f"无法写入模型文件到 {out}：{exc.strerror}", f"cannot write the artefact into {out}: {exc.strerror}"
        ) from None
    return TrainedArtefact(path, meta_path, meta)


def _log_loss(labels, proba, classes):
    from sklearn.metrics import log_loss

    return log_loss(labels, np.clip(proba, 1e-12, 1), labels=list(classes))


def calibration(labels, proba, classes, bins: int = 10) -> dict:
    """How far the confidence (top probability) is from the accuracy: log-loss, expected
    calibration error over equal-width confidence bins, and the bins (for a reliability plot)."""
    labels = np.asarray(labels, dtype=object)
    conf = proba.max(axis=1)
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        k = which == b
        if k.any():
            gap = abs(conf[k].mean() - correct[k].mean())
            ece += k.mean() * gap
            table.append(
                {
                    "from": round(edges[b], 2),
                    "n": int(k.sum()),
                    "confidence": round(float(conf[k].mean()), 4),
                    "accuracy": round(float(correct[k].mean()), 4),
                }
            )
    return {"log_loss": round(float(_log_loss(labels, proba, classes)), 4), "ece": round(float(ece), 4), "bins": table}
