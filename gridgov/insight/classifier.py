"""The message classifier as the platform uses it.

    from gridgov.insight.classifier import classify, suggest
    classify("小区垃圾无人清运", "已经一周了")   # [("城乡建设", 0.81), ("环境保护", 0.15), …]
    suggest("小区垃圾无人清运", "已经一周了")    # Suggestion(label="城乡建设", confidence=0.81, …)

The model is the newest artefact (`insight-*.joblib`, by file modification time, then name) in
the artefact directory:

1. `settings.GRIDGOV["INSIGHT_MODEL_DIR"]` when set,
2. else the environment variable `GRIDGOV_INSIGHT_MODEL_DIR`,
3. else `gridgov/insight/models/` (the committed artefact).

It is loaded lazily and cached per process; every call costs one `stat` of the directory and
one of the artefact, and a newer artefact (or a replaced one) is loaded on the next call. Each
process holds its own copy; nothing is shared between processes but the files.

Artefacts are pickles: load only those your own `gridgov insight train` wrote.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridgov.errors import NotFound

from . import features
from .training import ARTEFACT_PREFIX, ARTEFACT_SUFFIX, InsightError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models"


class NoModel(NotFound):
    code = "insight_no_model"


def model_dir() -> Path:
    """Where artefacts are looked for and written by default."""
    configured = None
    try:
        from django.conf import settings

        if settings.configured:
            configured = (getattr(settings, "GRIDGOV", None) or {}).get("INSIGHT_MODEL_DIR")
    except ImportError:  # pragma: no cover - Django is a dependency
        pass
    configured = configured or os.environ.get("GRIDGOV_INSIGHT_MODEL_DIR")
    return Path(configured) if configured else DEFAULT_MODEL_DIR


def artefacts(directory=None) -> list[Path]:
    """The artefacts of a directory, oldest first (modification time, then name)."""
    directory = Path(directory) if directory else model_dir()
    found = []
    try:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name.startswith(ARTEFACT_PREFIX) and entry.name.endswith(ARTEFACT_SUFFIX) and entry.is_file():
                    found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [p for _t, _n, p in sorted(found)]


def newest_artefact(directory=None) -> Path | None:
    found = artefacts(directory)
    return found[-1] if found else None


@dataclass
class LoadedModel:
    model: features.LinearTextModel
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def load_artefact(path) -> LoadedModel:
    import joblib

    path = Path(path)
    try:
        payload = joblib.load(path)
    except FileNotFoundError:
        raise NoModel(f"模型文件不存在：{path}", f"model artefact not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - unpickling a truncated or foreign file raises anything
        raise InsightError(
            f"无法读取模型文件 {path.name}：{exc}", f"cannot load model artefact {path}: {exc}", code="bad_artefact"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), features.LinearTextModel):
        raise InsightError(f"不是 insight 模型文件：{path.name}", f"not an insight model artefact: {path}", code="bad_artefact")
    if payload.get("format_version") != features.LinearTextModel.format_version:
        raise InsightError(
            f"模型文件格式版本不符：{path.name}，请重新训练",
            f"artefact {path.name} has format {payload.get('format_version')}, this code reads "
            f"{features.LinearTextModel.format_version}: retrain it",
            code="bad_artefact",
        )
    if payload.get("text_config") != features.text_config():
        raise InsightError(
            f"模型文件 {path.name} 的文本处理设置与当前代码不同，请重新训练",
            f"artefact {path.name} was trained with text settings {payload.get('text_config')}, this code uses "
            f"{features.text_config()}: retrain it",
            code="bad_artefact",
        )
    return LoadedModel(payload["model"], path, payload.get("meta") or {})


class _Cache:
    """Per-directory cache with a cheap freshness check (two stat calls)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[str, tuple] = {}  # dir -> (dir_mtime, path, file_mtime, LoadedModel)

    def get(self, directory: Path) -> LoadedModel:
        key = str(directory)
        try:
            dir_mtime = os.stat(directory).st_mtime_ns
        except FileNotFoundError:
            dir_mtime = None
        entry = self.entries.get(key)
        if entry and entry[0] == dir_mtime:
            try:
                if os.stat(entry[1]).st_mtime_ns == entry[2]:
                    return entry[3]
            except FileNotFoundError:
                pass
        with self.lock:
            path = newest_artefact(directory)
            if path is None:
                self.entries.pop(key, None)
                raise NoModel(
                    f"没有可用的分类模型：{directory} 中没有 {ARTEFACT_PREFIX}*{ARTEFACT_SUFFIX}，请先运行 gridgov insight train",
                    f"no model artefact ({ARTEFACT_PREFIX}*{ARTEFACT_SUFFIX}) in {directory}: run `gridgov insight train --data FILE.csv` first",
                )
            file_mtime = path.stat().st_mtime_ns
            entry = self.entries.get(key)
            if entry and entry[1] == path and entry[2] == file_mtime:
                loaded = entry[3]
            else:
                loaded = load_artefact(path)
            self.entries[key] = (dir_mtime, path, file_mtime, loaded)
            return loaded

    def clear(self):
        with self.lock:
            self.entries.clear()


_cache = _Cache()


def get_model(directory=None) -> LoadedModel:
    """The newest artefact of the directory, loaded once per process and reloaded when it changes."""
    return _cache.get(Path(directory) if directory else model_dir())


def clear_cache() -> None:
    _cache.clear()


def _text(title, description) -> str:
    text = features.message_text(title, description)
    if not text:
        raise InsightError("标题和内容不能都为空", "title and description are both empty: nothing to classify", code="empty_text")
    return text


def _top(proba_row: np.ndarray, classes, k: int) -> list[tuple[str, float]]:
    k = max(1, min(int(k), len(classes)))
    order = np.argsort(-proba_row, kind="stable")[:k]
    return [(str(classes[i]), float(proba_row[i])) for i in order]


def classify(title, description="", *, k: int = 3, directory=None) -> list[tuple[str, float]]:
    """The k most probable categories of a message with their probabilities, most probable first.

    The probabilities of all categories sum to 1; an empty message raises InsightError."""
    loaded = get_model(directory)
    proba = loaded.model.predict_proba([_text(title, description)])[0]
    return _top(proba, loaded.model.classes_, k)


def classify_many(messages, *, k: int = 3, directory=None, batch_size: int = 512) -> list[list[tuple[str, float]] | None]:
    """classify() for many (title, description) pairs; None for a message with no text."""
    loaded = get_model(directory)
    texts = [features.message_text(t, d) for t, d in messages]
    results: list[list[tuple[str, float]] | None] = [None] * len(texts)
    todo = [i for i, t in enumerate(texts) if t]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        proba = loaded.model.predict_proba([texts[i] for i in chunk])
        for row, i in zip(proba, chunk):
            results[i] = _top(row, loaded.model.classes_, k)
    return results


@dataclass(frozen=True)
class Suggestion:
    """What intake shows the dispatcher: the category the model suggests and how sure it is."""

    label: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]  # the top 3, the suggestion first
    model: str  # the artefact's file name, to record with the dispatcher's decision

    def category(self):
        """The first-level Category with this name, if the catalogue has one (else None)."""
        return category_for_label(self.label)


def suggest(title, description="", *, directory=None) -> Suggestion:
    loaded = get_model(directory)
    top = _top(loaded.model.predict_proba([_text(title, description)])[0], loaded.model.classes_, 3)
    return Suggestion(label=top[0][0], confidence=top[0][1], alternatives=tuple(top), model=loaded.name)


def category_for_label(label):
    """The first-level (parent-less) Category named `label`, or None. Read-only."""
    from gridgov.cases.models import Category

    return Category.objects.filter(name=label, parent=None).order_by("code").first()
