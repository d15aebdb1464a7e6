"""`gridgov insight train|classify|info`: output, the CSV round trip, clear errors."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridgov.insight.management.commands.insight import Command

from .conftest import REPO, write_csv


def run(*args):
    """Run the command without the app being installed (the command object is passed directly)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(Command(), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_train_command(tmp_path, small_csv):
    out, _ = run("train", "--data", str(small_csv), "--out", str(tmp_path), "--seed", "2")
    assert "macro-F1" in out and "sha256" in out
    assert len(list(tmp_path.glob("insight-*-s2.joblib"))) == 1 and len(list(tmp_path.glob("insight-*-s2.json"))) == 1


def test_classify_text_prints_top_three(trained):
    model_dir, _ = trained
    out, _ = run("classify", "小区路灯坏了很久", "--model-dir", str(model_dir))
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].endswith("城乡建设") and "%" in lines[0]
    out, _ = run("classify", "学校补课", "--json", "--top", "2", "--model-dir", str(model_dir))
    data = json.loads(out)
    assert data[0]["label"] == "教育文体" and len(data) == 2


def test_classify_csv_round_trip(tmp_path, trained):
    model_dir, _ = trained
    rows = [
        {"id": "1", "title": "化工厂排污", "detail": "河水发臭", "note": "多行\n备注"},
        {"id": "2", "title": "", "detail": "", "note": ""},
        {"id": "3", "title": "", "detail": "幼儿园学费太高", "note": "x"},
    ]
    src = write_csv(tmp_path / "in.csv", rows, columns=("id", "title", "detail", "note"))
    dst = tmp_path / "out.csv"
    out, err = run("classify", "--csv", str(src), "--out", str(dst), "--model-dir", str(model_dir))
    assert "3 rows" in out and "1 rows have neither" in err
    with open(dst, newline="", encoding="utf-8") as fh:
        back = list(csv.DictReader(fh))
        header = back[0].keys()
    assert list(header) == ["id", "title", "detail", "note", "predicted", "confidence"]
    assert [r["id"] for r in back] == ["1", "2", "3"] and back[0]["note"] == "多行\n备注"
    assert back[0]["predicted"] == "环境保护" and 0 < float(back[0]["confidence"]) <= 1
    assert back[1]["predicted"] == "" and back[1]["confidence"] == ""
    assert back[2]["predicted"] == "教育文体"


def test_classify_csv_with_only_a_title_column_and_bom(tmp_path, trained):
    model_dir, _ = trained
    src = tmp_path / "in.csv"
    src.write_text("\ufefftitle\n学校补课\n", encoding="utf-8")
    run("classify", "--csv", str(src), "--out", str(tmp_path / "o.csv"), "--model-dir", str(model_dir))
    assert "教育文体" in (tmp_path / "o.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", ""], "both empty"),
        (["classify", " \t "], "both empty"),
        (["classify"], "give a text"),
        (["classify", "--csv", "/nonexistent/in.csv", "--out", "/tmp/x.csv"], "not found"),
        (["classify", "--csv", "in.csv"], "needs --out"),
        (["classify", "路灯", "--csv", "in.csv", "--out", "o.csv"], "not both"),
        (["classify", "路灯", "--top", "0"], "at least 1"),
        (["train", "--data", "/nonexistent/train.csv"], "not found"),
    ],
)
def test_bad_input_is_a_command_error(trained, args, message):
    model_dir, _ = trained
    extra = ["--model-dir", str(model_dir)] if args[0] == "classify" else []
    with pytest.raises(CommandError, match=message):
        run(*args, *extra)


def test_missing_columns_and_missing_model_are_command_errors(tmp_path, trained):
    model_dir, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text("text,other\n路灯,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="missing column"):
        run("classify", "--csv", str(bad), "--out", str(tmp_path / "o.csv"), "--model-dir", str(model_dir))
    with pytest.raises(CommandError, match="no model artefact"):
        run("classify", "路灯坏了", "--model-dir", str(tmp_path / "empty"))
    with pytest.raises(CommandError, match="missing column"):
        run("train", "--data", str(bad), "--out", str(tmp_path / "m"))


def test_info_shows_the_artefact(trained):
    model_dir, artefact = trained
    out, _ = run("info", "--model-dir", str(model_dir))
    assert artefact.path.name in out and '"macro_f1"' in out


def test_cli_exits_non_zero_without_traceback(tmp_path):
    """Through the real `gridgov` entry point, with a settings module that installs the app."""
    (tmp_path / "insight_test_settings.py").write_text(
        "from gridgov.settings import *  # noqa\n"
        "if 'gridgov.insight' not in INSTALLED_APPS:\n"
        "    INSTALLED_APPS = [*INSTALLED_APPS, 'gridgov.insight']\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "DJANGO_SETTINGS_MODULE": "insight_test_settings",
        "GRIDGOV_INSIGHT_MODEL_DIR": str(tmp_path / "no-models"),
    }
    cmd = [sys.executable, "-c", "from gridgov.cli import main; main()", "insight", "classify", "路灯坏了"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 1
    assert "CommandError" in proc.stderr and "no model artefact" in proc.stderr and "Traceback" not in proc.stderr
