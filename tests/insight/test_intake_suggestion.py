"""The classifier at intake: the suggestion is filled when a case comes in without a category,
mapped to a platform category and a department, the dispatcher's decision is recorded, and
decided cases export as training data. Uses the committed model artefact."""

import csv
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.cases import services as cs
from gridgov.insight import classifier
from gridgov.insight import intake as insight_intake
from gridgov.insight.models import CaseSuggestion, LabelMapping
from tests.factories import build_world

BOARD_LABELS = {"交通运输", "劳动和社会保障", "卫生计生", "商贸旅游", "城乡建设", "教育文体", "环境保护"}


@pytest.fixture
def w(db):
    return build_world()


def report(w, title="金山路12号门口路灯不亮", category=None, **kw):
    return cs.report_case(actor=w.users["worker"], channel="patrol", title=title, description="晚上一片漆黑",
                          category=category, grid=w.grids[0], **kw)


def test_uncategorised_report_gets_the_classifiers_suggestion(w):
    case = report(w)
    s = CaseSuggestion.objects.get(case=case)
    expected = classifier.suggest(case.title, case.description)
    assert s.label == expected.label == "城乡建设"
    assert s.label in BOARD_LABELS and 0.5 < s.confidence <= 1
    assert s.model.endswith(".joblib") and len(s.alternatives) == 3 and s.alternatives[0][0] == s.label
    assert s.followed is None and s.decided_at is None
    # A case reported with a category is left alone by default …
    assert not CaseSuggestion.objects.filter(case=report(w, category=w.cats["litter"])).exists()


def test_suggestion_modes(w, settings):
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_SUGGEST_AT_INTAKE": "always"}
    assert CaseSuggestion.objects.filter(case=report(w, category=w.cats["litter"])).exists()
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_SUGGEST_AT_INTAKE": "off"}
    assert not CaseSuggestion.objects.filter(case=report(w)).exists()


def test_intake_adds_one_insert_for_the_suggestion_and_one_for_the_keys(w, settings):
    report(w)  # warm: model and jieba loaded, counters created
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_SUGGEST_AT_INTAKE": "off", "DUPLICATE_INDEX_AT_INTAKE": False}
    with CaptureQueriesContext(connection) as bare:
        report(w)
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_SUGGEST_AT_INTAKE": "uncategorised", "DUPLICATE_INDEX_AT_INTAKE": True}
    with CaptureQueriesContext(connection) as full:
        report(w)
    extra = [q["sql"] for q in full.captured_queries if "insight_" in q["sql"]]
    assert len(full.captured_queries) - len(bare.captured_queries) == 2
    assert len(extra) == 2 and all(sql.upper().startswith("INSERT") for sql in extra)


def test_no_model_means_no_suggestion_and_intake_goes_on(w, settings, tmp_path):
    settings.GRIDGOV = {**settings.GRIDGOV, "INSIGHT_MODEL_DIR": str(tmp_path)}
    classifier.clear_cache()
    case = report(w)
    assert case.pk and not CaseSuggestion.objects.filter(case=case).exists()


def test_label_maps_to_a_category_and_the_matrix_department(w):
    assert insight_intake.category_for_label("城乡建设") is None  # no such first-level category: a hint only
    LabelMapping.objects.create(label="城乡建设", category=w.cats["top"])
    assert insight_intake.category_for_label("城乡建设") == w.cats["top"]
    case = report(w)
    assert insight_intake.department_for(w.cats["top"], case) == w.depts["zf"]
    # A first-level category named like the label needs no mapping.
    from gridgov.cases.models import Category

    board = Category.objects.create(code="90", name="环境保护")
    assert insight_intake.category_for_label("环境保护") == board
    # Reverse: the label a category counts as (mapping on an ancestor, else the first-level name).
    assert insight_intake.label_for_category(w.cats["litter"]) == "城乡建设"
    assert insight_intake.label_for_category(w.cats["road"]) == "道路破损"


def test_accepting_records_followed_or_corrected_and_dispatch_the_department(w):
    LabelMapping.objects.create(label="城乡建设", category=w.cats["top"])
    followed = cs.accept_case(actor=w.users["dispatcher"], case=report(w), category=w.cats["litter"])
    s = CaseSuggestion.objects.get(case=followed)
    assert s.followed is True and s.final_category == w.cats["litter"] and s.category == w.cats["top"]
    assert s.decided_by == w.users["dispatcher"] and s.decided_at is not None
    cs.dispatch_case(actor=w.users["dispatcher"], case=followed, department=w.depts["zf"])
    s.refresh_from_db()
    assert s.suggested_department == w.depts["zf"] and s.department_followed is True

    corrected = cs.accept_case(actor=w.users["dispatcher"], case=report(w), category=w.cats["road"])
    s2 = CaseSuggestion.objects.get(case=corrected)
    assert s2.followed is False and s2.final_category == w.cats["road"]
    assert CaseSuggestion.objects.filter(decided_at__isnull=False).count() == 2


def test_export_training_writes_the_train_layout(w, tmp_path):
    LabelMapping.objects.create(label="城乡建设", category=w.cats["top"])
    a = cs.accept_case(actor=w.users["dispatcher"], case=report(w), category=w.cats["litter"])
    b = cs.accept_case(actor=w.users["dispatcher"], case=report(w, title="金山路路面破损大坑"), category=w.cats["road"])
    report(w, title="尚未立案的案件")  # undecided: not training data
    plain = cs.accept_case(actor=w.users["dispatcher"], case=report(w, category=w.cats["ad"], title="电线杆小广告"))
    out = tmp_path / "cases.csv"
    call_command("insight", "export-training", "--out", str(out), stdout=io.StringIO())
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["number"], r["label"], r["followed"]) for r in rows] == [(a.number, "城乡建设", "1"), (b.number, "道路破损", "0")]
    assert rows[0]["title"] == a.title and rows[0]["detail"] == a.description and rows[0]["suggested"] == "城乡建设"
    buf = io.StringIO()
    call_command("insight", "export-training", "--all", stdout=buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["number"] for r in rows] == [a.number, b.number, plain.number] and rows[2]["label"] == "城乡建设"
    # The file trains: the train command reads these columns.
    from gridgov.insight.training import read_rows

    header, parsed = read_rows(out, need_label=True)
    assert {"title", "detail", "label"} <= set(header) and len(parsed) == 2


def test_export_training_refuses_a_bad_date(w):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("insight", "export-training", "--since", "yesterday", stdout=io.StringIO())


@pytest.fixture
def api(w, client):
    from gridgov.accounts.services import issue_token
    from tests.api.conftest import Api

    return lambda name: Api(client, issue_token(actor=None, user=w.users[name], name="test")[1])


def test_suggestion_api(w, api):
    LabelMapping.objects.create(label="城乡建设", category=w.cats["top"])
    case = report(w)
    r = api("dispatcher").get(f"/cases/{case.number}/suggestion")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["stored"] is True and body["label"] == "城乡建设" and body["category"]["code"] == "01"
    assert body["department"]["name"] == "综合执法队" and body["followed"] is None
    # Reported with a category: nothing stored, the suggestion is computed on demand.
    live = api("dispatcher").get(f"/cases/{report(w, category=w.cats['road'], title='学校强制补课收费').number}/suggestion")
    assert live.status_code == 200 and live.json()["stored"] is False and live.json()["label"] == "教育文体"
    assert live.json()["category"] is None and live.json()["department"] is None
    assert api("dispatcher2").get(f"/cases/{case.number}/suggestion").status_code == 404
    # A resident who did not report it: out of scope, 404 before any role check.
    assert api("resident").get(f"/cases/{case.number}/suggestion").status_code == 404
