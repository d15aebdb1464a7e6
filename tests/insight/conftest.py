"""Small generated training data and a model trained on it once per test session."""

import csv
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
TRAIN_CSV = SHARED_DATA / "messages" / "train.csv"

# Four categories, each with its own vocabulary, and some words that any of them may use.
VOCAB = {
    "城乡建设": ["路灯", "小区物业", "违章建筑", "拆迁补偿", "下水道", "电梯故障", "房屋漏水", "停车位"],
    "教育文体": ["学校", "老师", "学生", "幼儿园", "补课", "学费", "图书馆", "招生"],
    "卫生计生": ["医院", "医生", "医保", "疫苗", "药品", "二胎", "诊所", "看病"],
    "环境保护": ["噪音", "污水", "排污", "油烟", "空气污染", "垃圾焚烧", "粉尘", "化工厂"],
}
PLACES = ["A市", "B3区", "C市高新区", "D7县", "K1区", "西地省"]
FILLER = ["请求处理", "严重扰民", "希望尽快解决", "何时能解决", "反映问题", "多次投诉无果", "请领导关注"]


def generated_rows(n_per_class=30, seed=0):
    rng = random.Random(seed)
    rows = []
    for label, words in VOCAB.items():
        for i in range(n_per_class):
            a, b = rng.sample(words, 2)
            title = f"{rng.choice(PLACES)}{a}{rng.choice(FILLER)}"
            detail = "" if i % 3 else f"我们这里{b}的问题已经很久了，{rng.choice(FILLER)}。\t联系人：张先生　谢谢"
            if i % 7 == 0:  # some messages have only a detail
                title, detail = "", f"{a}和{b}的问题，{rng.choice(FILLER)}"
            rows.append({"title": title, "detail": detail, "label": label})
    rng.shuffle(rows)
    return rows


def write_csv(path, rows, columns=("title", "detail", "label")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("insight-data") / "small.csv", generated_rows())


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_csv):
    """(artefact directory, TrainedArtefact) of a model trained on the generated data."""
    from gridgov.insight import training

    out = tmp_path_factory.mktemp("insight-models")
    return out, training.train(small_csv, out_dir=out, seed=0)


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    from gridgov.insight import classifier

    classifier.clear_cache()
    yield
    classifier.clear_cache()
