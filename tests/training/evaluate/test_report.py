"""`medrec evaluate` end to end on a tiny literature-format benchmark generated here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import build_cli
from tests.training.evaluate.test_ddi_curve import assert_sets_match_the_rule
from tests.training.gamenet.test_cli_end_to_end import write_literature_fixture
from training.data.dataset import Dataset
from training.data.splits import SplitConfig, split_patients
from training.evaluate.ddi_curve import limited_sets
from training.evaluate.footing import align, load_footing, visits_digest
from training.evaluate.plots import FIGURES
from training.evaluate.report import build_report
from training.evaluate.runs import load_run_predictor
from training.metrics import THRESHOLD_GRID


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("evaluate")
    runner, cli = CliRunner(), build_cli()
    bench, data = write_literature_fixture(root / "bench", patients=60), root / "data"
    ingest = ["ingest", "--format", "benchmark-json", "--input", str(bench), "--out", str(data)]
    assert runner.invoke(cli, ingest).exit_code == 0
    run = root / "run"
    train = ["train", "gamenet", "--data", str(data), "--out", str(run), "--epochs", "2"]
    result = runner.invoke(cli, [*train, "--bootstrap-rounds", "2"])
    assert result.exit_code == 0, result.output
    out = root / "report"
    args = ["evaluate", "--data", str(data), "--runs", str(run), "--out", str(out)]
    result = runner.invoke(
        cli, [*args, "--baselines", "lr,frequency,nearest", "--bootstrap-rounds", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "(tuned on validation)" in result.output
    return data, out, json.loads((out / "report.json").read_text())


def test_every_row_scores_the_same_test_patients_and_visits(evaluated) -> None:
    data, _, report = evaluated
    test = split_patients(
        [p for p in Dataset(data).load() if p.visits], SplitConfig("literature")
    ).test
    rows = report["rows"]
    assert [r["name"] for r in rows] == ["gamenet", "lr", "frequency", "nearest"]
    assert [r["kind"] for r in rows] == ["model", "baseline", "baseline", "baseline"]
    for row in rows:
        assert row["test_patients"] == len(test)
        assert row["test_visits"] == sum(len(p.visits) for p in test)  # first visits included
        assert row["test_visits_sha256"] == visits_digest(test)
        buckets = row["by_past_visits"]["tuned"]
        assert sum(b["visits"] for b in buckets.values()) == row["test_visits"]
        assert buckets["0"]["visits"] == len(test)


def test_both_thresholds_are_reported_and_the_tuned_one_comes_from_the_grid(evaluated) -> None:
    _, _, report = evaluated
    for row in report["rows"]:
        assert row["thresholds"]["fixed"] == 0.5
        assert row["thresholds"]["tuned"] in THRESHOLD_GRID
        for key in ("fixed", "tuned"):
            assert set(row[key]) == {"jaccard", "prauc", "f1", "ddi_rate", "avg_meds"}
            assert 0 <= row[key]["jaccard"]["mean"] <= 1 and row[key]["jaccard"]["std"] >= 0
    assert report["bootstrap_rounds"] == 3


def test_the_ddi_curve_stays_at_or_below_its_targets(evaluated) -> None:
    _, _, report = evaluated
    targets = report["ddi_curve_targets"]
    assert targets[0] == 0.0 and targets[-1] == pytest.approx(report["test_ground_truth_ddi_rate"])
    for row in report["rows"]:
        assert [p["target"] for p in row["ddi_curve"]] == targets
        for point in row["ddi_curve"]:
            assert point["ddi_rate"] <= point["target"] + 1e-12
        assert row["ddi_curve"][0]["ddi_rate"] == 0.0


def test_the_html_page_stands_alone_with_the_pngs_beside_it(evaluated) -> None:
    _, out, report = evaluated
    page = (out / "report.html").read_text()
    for file in FIGURES.values():
        assert (out / file).read_bytes().startswith(b"\x89PNG")
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert page.count("<table>") == 3
    for row in report["rows"]:
        assert f"<td>{row['name']}</td>" in page


def test_a_second_report_into_the_same_directory_is_refused(evaluated, tmp_path: Path) -> None:
    data, out, _ = evaluated
    result = CliRunner().invoke(build_cli(), ["evaluate", "--data", str(data), "--out", str(out)])
    assert isinstance(result.exception, FileExistsError)


def test_bad_inputs_are_named(evaluated, tmp_path: Path) -> None:
    data, _, _ = evaluated
    base = ["evaluate", "--data", str(data), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(build_cli(), [*base, "--baselines", "svm"])
    assert result.exit_code == 2 and "unknown baseline 'svm'" in result.output
    gbert = tmp_path / "gb"
    gbert.mkdir()
    (gbert / "run.json").write_text(json.dumps({"model": "gbert"}))
    result = CliRunner().invoke(build_cli(), [*base, "--runs", str(gbert)])
    assert isinstance(result.exception, (ValueError, FileNotFoundError))
    assert str(gbert) in str(result.exception)


def test_a_run_trained_on_another_split_is_flagged(evaluated) -> None:
    data, out, _ = evaluated
    run = Path(json.loads((out / "report.json").read_text())["rows"][0]["source"])
    footing = load_footing(data, SplitConfig("random", seed=1))
    report = build_report(footing, [run], [], bootstrap_rounds=1)
    assert len(report["warnings"]) == 1 and "trained on another split" in report["warnings"][0]
    assert report["rows"][0]["test_patients"] == len(footing.split.test)


def test_the_curves_sets_are_the_rules_on_a_real_runs_test_visits(evaluated) -> None:
    data, _, report = evaluated
    row = report["rows"][0]
    footing = load_footing(data, SplitConfig("literature"))
    predictor = load_run_predictor(Path(row["source"]))
    y_prob = align(predictor.predict(footing.split.test), predictor.med_vocab, footing.med_vocab)
    interacts = footing.interacts()
    # the tuned threshold, and a low one whose larger sets need many drops
    for threshold in (row["thresholds"]["tuned"], 0.1):
        assert_sets_match_the_rule(y_prob, threshold, interacts, report["ddi_curve_targets"])
    # the low threshold's sets do get shrunk, so the comparison covers real drops
    shrunk, whole = (limited_sets(y_prob, 0.1, interacts, t) for t in (0.0, 1.0))
    assert sum(s.sum() for s in shrunk) < sum(w.sum() for w in whole)
