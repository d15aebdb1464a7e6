"""Training: the artefact, its metadata and fingerprint, reproducibility, bad training files."""

import hashlib
import json
import time

import numpy as np
import pytest

from gridgov.insight import classifier, training

from .conftest import VOCAB, generated_rows, write_csv


def test_train_writes_artefact_with_metrics_and_fingerprint(trained, small_csv):
    out, artefact = trained
    assert artefact.path.parent == out and artefact.path.name.startswith("insight-") and artefact.path.suffix == ".joblib"
    meta = json.loads(artefact.meta_path.read_text(encoding="utf-8"))
    assert artefact.meta_path.stem == artefact.path.stem
    fp = meta["training_data"]
    assert fp["sha256"] == hashlib.sha256(small_csv.read_bytes()).hexdigest()
    assert fp["rows"] == fp["rows_used"] == 120
    assert fp["label_counts"] == {label: 30 for label in sorted(VOCAB)}
    assert meta["labels"] == sorted(VOCAB) and meta["seed"] == 0
    assert 0.8 <= meta["cv"]["macro_f1"] <= 1 and len(meta["cv"]["confusion_matrix"]) == 4
    assert meta["size_bytes"] == artefact.path.stat().st_size < 20_000_000
    assert meta["versions"]["scikit-learn"] and meta["training_seconds"]["total"] < 10


def test_training_is_fast_and_reproducible(tmp_path, small_csv):
    start = time.perf_counter()
    a = training.train(small_csv, out_dir=tmp_path / "a", seed=7)
    assert time.perf_counter() - start < 10
    b = training.train(small_csv, out_dir=tmp_path / "b", seed=7)
    assert a.meta["training_data"] == {**b.meta["training_data"], "file": a.meta["training_data"]["file"]}
    assert a.meta["cv"] == b.meta["cv"]
    ma, mb = classifier.load_artefact(a.path).model, classifier.load_artefact(b.path).model
    probe = ["小区路灯坏了", "学校乱收费", "医院看病太贵", "化工厂排污", "完全无关的一句话"]
    assert np.array_equal(ma.predict_proba(probe), mb.predict_proba(probe))
    assert np.array_equal(ma.w_char, mb.w_char) and np.array_equal(ma.bias, mb.bias)


def test_skipped_rows_are_counted(tmp_path):
    rows = generated_rows(10) + [
        {"title": "", "detail": " \t\u3000", "label": "城乡建设"},
        {"title": "没有标签", "detail": "", "label": ""},
    ]
    data = training.read_training_csv(write_csv(tmp_path / "t.csv", rows))
    assert len(data) == 40 and data.fingerprint["rows"] == 42
    assert data.fingerprint["rows_skipped"] == {"empty_text": 1, "empty_label": 1}


def test_a_file_with_only_titles_is_enough(tmp_path):
    rows = generated_rows(10)
    with_title = sum(1 for r in rows if r["title"])
    data = training.read_training_csv(write_csv(tmp_path / "t.csv", rows, columns=("title", "label")))
    assert len(data) == with_title and data.fingerprint["rows_skipped"] == {"empty_text": 40 - with_title}


@pytest.mark.parametrize(
    "content, code",
    [
        ("title,detail\n路灯坏了,\n", "missing_columns"),
        ("text,label\n路灯坏了,城乡建设\n", "missing_columns"),
        ("title,detail,label\n路灯坏了,,城乡建设\n学校,,城乡建设\n", "too_few_classes"),
        ("title,detail,label\n路灯坏了,,城乡建设\n路灯,,城乡建设\n学校,,教育文体\n", "too_few_examples"),
    ],
)
def test_bad_training_files_are_refused(tmp_path, content, code):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(training.InsightError) as exc:
        training.read_training_csv(path)
    assert exc.value.code == code


def test_missing_and_non_utf8_files_are_refused(tmp_path):
    with pytest.raises(training.InsightError, match="not found"):
        training.read_training_csv(tmp_path / "nope.csv")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("title,detail,label\n路灯坏了,,城乡建设\n".encode("gbk"))
    with pytest.raises(training.InsightError, match="UTF-8"):
        training.read_training_csv(gbk)


def test_two_categories_train_too(tmp_path):
    rows = [r for r in generated_rows(15) if r["label"] in ("教育文体", "卫生计生")]
    art = training.train(write_csv(tmp_path / "two.csv", rows), out_dir=tmp_path / "m", seed=1)
    top = classifier.classify("学校老师补课收费", "", k=5, directory=tmp_path / "m")
    assert top[0][0] == "教育文体" and len(top) == 2
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-6)
    assert art.meta["labels"] == ["卫生计生", "教育文体"]
