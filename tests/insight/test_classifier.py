"""The Python API: classify, suggest, model loading (newest wins, reload), configuration."""

import csv
import os
import random
import shutil

import pytest

from gridgov.insight import classifier, features, training

from .conftest import TRAIN_CSV, VOCAB


def test_classify_returns_top_k_sorted_with_probabilities(trained):
    out, _ = trained
    top = classifier.classify("B3区医院医生态度差", "看病排队太久", directory=out)
    assert len(top) == 3
    assert top[0][0] == "卫生计生"
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    everything = classifier.classify("B3区医院医生态度差", "看病排队太久", k=10, directory=out)
    assert {label for label, _ in everything} == set(VOCAB)
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-6)
    assert all(isinstance(label, str) and isinstance(p, float) for label, p in everything)


def test_suggest_gives_the_top_label_and_its_confidence(trained):
    out, artefact = trained
    s = classifier.suggest("化工厂排污", "河里全是污水", directory=out)
    assert s.label == "环境保护" and 0.25 < s.confidence <= 1
    assert s.alternatives[0] == (s.label, s.confidence) and len(s.alternatives) == 3
    assert s.model == artefact.path.name


def test_empty_text_is_refused(trained):
    out, _ = trained
    for title, detail in [("", ""), ("  \t", "\u3000"), (None, None)]:
        with pytest.raises(training.InsightError) as exc:
            classifier.classify(title, detail, directory=out)
        assert exc.value.code == "empty_text"


def test_classify_many_matches_classify_and_skips_empty(trained):
    out, _ = trained
    msgs = [("小区路灯坏了", ""), ("", ""), ("", "学生补课")]
    many = classifier.classify_many(msgs, k=2, directory=out)
    assert many[1] is None
    single = classifier.classify(*msgs[0], k=2, directory=out)
    assert [label for label, _ in many[0]] == [label for label, _ in single]
    assert [p for _, p in many[0]] == pytest.approx([p for _, p in single])
    assert many[2][0][0] == "教育文体"


def test_no_artefact_is_a_clear_error(tmp_path):
    with pytest.raises(classifier.NoModel, match="gridgov insight train"):
        classifier.classify("路灯坏了", directory=tmp_path)
    with pytest.raises(classifier.NoModel):
        classifier.get_model(tmp_path / "does-not-exist")


def test_a_broken_artefact_is_a_clear_error(tmp_path):
    (tmp_path / "insight-20200101T000000Z-deadbeef-s0.joblib").write_bytes(b"not a pickle")
    with pytest.raises(training.InsightError, match="cannot load"):
        classifier.get_model(tmp_path)


def test_an_artefact_from_other_text_settings_is_refused(tmp_path, trained, monkeypatch):
    _, artefact = trained
    shutil.copy(artefact.path, tmp_path / artefact.path.name)
    monkeypatch.setattr(features, "WORD_CHARS", features.WORD_CHARS + 1)
    with pytest.raises(training.InsightError, match="retrain"):
        classifier.get_model(tmp_path)


def test_newest_artefact_wins_and_is_picked_up_without_restart(tmp_path, trained, small_csv):
    _, artefact = trained
    old = tmp_path / "insight-20200101T000000Z-00000000-s0.joblib"
    shutil.copy(artefact.path, old)
    os.utime(old, (1_600_000_000, 1_600_000_000))
    first = classifier.get_model(tmp_path)
    assert first.path == old
    assert classifier.get_model(tmp_path) is first  # cached

    new = training.train(small_csv, out_dir=tmp_path, seed=3)
    assert classifier.newest_artefact(tmp_path) == new.path
    assert classifier.artefacts(tmp_path) == [old, new.path]
    assert classifier.get_model(tmp_path).path == new.path
    assert classifier.suggest("学校乱收费", directory=tmp_path).model == new.path.name

    new.path.unlink()  # the newest goes away: back to the older one
    assert classifier.get_model(tmp_path).path == old


def test_model_directory_from_settings_then_environment(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("GRIDGOV_INSIGHT_MODEL_DIR", raising=False)
    settings.GRIDGOV = {k: v for k, v in settings.GRIDGOV.items() if k != "INSIGHT_MODEL_DIR"}
    assert classifier.model_dir() == classifier.DEFAULT_MODEL_DIR
    monkeypatch.setenv("GRIDGOV_INSIGHT_MODEL_DIR", str(tmp_path / "env"))
    assert classifier.model_dir() == tmp_path / "env"
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_MODEL_DIR": str(tmp_path / "settings")}
    assert classifier.model_dir() == tmp_path / "settings"


@pytest.mark.django_db
def test_label_maps_to_a_top_level_category_when_one_exists(trained):
    from gridgov.cases.models import Category

    out, _ = trained
    assert classifier.category_for_label("教育文体") is None
    top = Category.objects.create(code="JY", name="教育文体")
    Category.objects.create(code="ZZ01", name="教育文体", parent=Category.objects.create(code="ZZ", name="其他"))
    assert classifier.category_for_label("教育文体") == top
    assert classifier.suggest("学校老师补课", directory=out).category() == top


@pytest.mark.skipif(not TRAIN_CSV.exists(), reason=f"the shared data set is absent ({TRAIN_CSV})")
def test_committed_artefact_classifies_a_fixed_sample_of_train_csv():
    path = classifier.newest_artefact(classifier.DEFAULT_MODEL_DIR)
    assert path is not None, "no committed artefact in gridgov/insight/models/"
    loaded = classifier.get_model(classifier.DEFAULT_MODEL_DIR)
    assert loaded.meta["training_data"]["rows"] == 9835
    with open(TRAIN_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sample = random.Random(20240501).sample(rows, 300)
    results = classifier.classify_many([(r["title"], r["detail"]) for r in sample], k=1, directory=classifier.DEFAULT_MODEL_DIR)
    accuracy = sum(res[0][0] == r["label"] for res, r in zip(results, sample)) / len(sample)
    assert accuracy >= 0.9, accuracy
    assert features.JIEBA_LOAD_SECONDS is not None
