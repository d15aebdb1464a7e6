"""Text normalisation, duplicate groups, and the fast featurisation against scikit-learn's."""

import numpy as np

from gridgov.insight import features, training

from .conftest import generated_rows


def test_normalise_folds_width_tabs_full_width_spaces_and_invisibles():
    assert features.normalise("\u3000关于\tA市\u200b的问题？ \r\n") == "关于 A市的问题?"
    assert features.normalise("ＡＢＣ１２３") == "ABC123"
    assert features.normalise(None) == "" and features.normalise("  \t\u3000 ") == ""


def test_message_text_joins_title_and_detail_and_caps_length():
    assert features.message_text("标题", "内容\t详情") == "标题 内容 详情"
    assert features.message_text("", "只有内容") == "只有内容"
    assert features.message_text("只有标题", None) == "只有标题"
    assert features.message_text("", "") == ""
    assert len(features.message_text("题", "字" * 20_000)) == features.MAX_CHARS


def test_words_is_quiet_search_mode_and_capped(capsys):
    assert features.words("中华人民共和国") == ("中华", "华人", "人民", "共和", "共和国", "中华人民共和国")
    assert "".join(features.words("路" * (features.WORD_CHARS + 50))) == "路" * features.WORD_CHARS
    assert capsys.readouterr().err == ""  # jieba's "Building prefix dict…" is silenced


def test_duplicate_groups_link_shared_titles_and_details_transitively():
    titles = ["路灯坏了", "路灯坏了", "", "别的事", "无关"]
    details = ["", "晚上很黑", "晚上很黑", "", ""]
    g = features.duplicate_groups(titles, details)
    assert g[0] == g[1] == g[2]
    assert len({g[0], g[3], g[4]}) == 3


def test_fast_featurisation_equals_scikit_learn():
    rows = generated_rows(20, seed=3)
    texts = [features.message_text(r["title"], r["detail"]) for r in rows]
    cv, xc = training._fit_vectorizer(training._char_vectorizer, texts)
    wv, xw = training._fit_vectorizer(training._word_vectorizer, texts)
    rng = np.random.default_rng(0)
    wc, ww, b = rng.normal(size=(xc.shape[1], 4)), rng.normal(size=(xw.shape[1], 4)), rng.normal(size=4)
    model = features.LinearTextModel.from_sklearn(cv, wv, list("abcd"), wc, ww, b)
    probe = [features.message_text(r["title"], r["detail"]) for r in generated_rows(5, seed=9)]
    probe += ["", "Ａ", "完全没见过的字词 😀", "abc ABC"]
    expected = np.asarray(cv.transform(probe) @ wc) + np.asarray(wv.transform(probe) @ ww) + b
    assert np.allclose(model.decision_function(probe), expected, atol=1e-4)
    proba = model.predict_proba(probe)
    assert np.allclose(proba.sum(axis=1), 1.0)
