"""The GAMENet toolkit's ingest step on bad input: clear messages, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.contract.errors import JobInputError
from tests.training.gbert.factories import GBERT_JOB_TINY
from training.data import ingest
from training.data.synth import SynthConfig, write_mimic3_export
from training.jobs import Toolkit


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "mimic3"
    write_mimic3_export(SynthConfig(patients=30, seed=5), out)
    return out


def _ingest(export: Path, out: Path, fmt: str = "mimic3", **options: object) -> None:
    Toolkit().ingest(fmt, export, out, dict(options))


def test_a_good_export_is_ingested_with_its_report(export: Path, tmp_path: Path) -> None:
    summary = Toolkit().ingest("mimic3", export, tmp_path / "ds", {"top_diagnoses": 500})
    assert summary["patients"] > 0 and (tmp_path / "ds" / "patients.jsonl").is_file()
    assert any(f["name"] == "diagnoses.top_n" for f in summary["filters"])


def test_wrong_format_names_the_missing_file(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="vocab.json|records.json"):
        _ingest(export, tmp_path / "ds", "benchmark-json")
    assert not (tmp_path / "ds").exists()


def test_a_missing_table_is_named(export: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for p in export.iterdir():
        if p.name != "PRESCRIPTIONS.csv":
            (partial / p.name).write_bytes(p.read_bytes())
    with pytest.raises(JobInputError, match="PRESCRIPTIONS.csv") as info:
        _ingest(partial, tmp_path / "ds")
    assert str(partial) not in str(info.value)  # server paths are not shown
    assert not (tmp_path / "ds").exists()


def test_an_empty_result_names_the_filter_and_its_counts(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError) as info:
        _ingest(export, tmp_path / "ds", min_visits=99)
    message = str(info.value)
    assert "patients.min_visits left no rows" in message
    assert "patients.min_visits kept 0 of" in message
    assert not (tmp_path / "ds").exists()


def test_reader_options_are_checked(export: Path, tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="'colour' is not known to the mimic3 reader"):
        _ingest(export, tmp_path / "ds", colour="red")
    with pytest.raises(JobInputError, match="no such file in the upload"):
        _ingest(export, tmp_path / "ds", atc_mapping="../../etc/passwd")
    with pytest.raises(JobInputError, match="min_visits"):
        _ingest(export, tmp_path / "ds", min_visits=0)


def test_a_format_without_a_reader_in_this_build(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ingest.READERS, "hl7", ingest.Reader("training.data.hl7", "read_hl7", None))
    with pytest.raises(JobInputError, match="format 'hl7' has no reader in this build"):
        _ingest(export, tmp_path / "ds", "hl7")


@pytest.mark.parametrize("fmt", ["mimic4", "omop", "fhir"])
def test_the_other_export_formats_are_dispatched_to_their_readers(fmt: str, tmp_path: Path) -> None:
    from tests.training.data.ehr_factory import random_patients
    from training.data.writers.fhir import write_fhir_export
    from training.data.writers.mimic4 import write_mimic4_export
    from training.data.writers.omop import write_omop_export

    patients = random_patients(8, seed=2)
    export = tmp_path / "export"
    options: dict[str, object] = {}
    if fmt == "fhir":
        write_fhir_export(patients, export)
    else:
        writer = write_mimic4_export if fmt == "mimic4" else write_omop_export
        mapping = writer(patients, export)
        if fmt == "mimic4":
            (export / "map.csv").write_bytes(mapping.read_bytes())
            options["atc_mapping"] = "map.csv"  # a file of the upload, named relatively
    summary = Toolkit().ingest(fmt, export, tmp_path / "ds", options)
    assert summary["patients"] == 8


def test_every_job_model_has_a_trainer() -> None:
    from app.contract.jobs import JOB_MODELS
    from training.jobs import TRAINERS

    assert tuple(TRAINERS) == JOB_MODELS


def test_staged_epochs_count_every_stage_after_the_ones_before() -> None:
    from training.jobs import StagedEpochs

    calls: list[tuple[int, int]] = []
    staged = StagedEpochs(lambda e, n, val: calls.append((e, n)), [2, 3, 1])
    first, second, third = staged.stage(0), staged.stage(1), staged.stage(2)
    for epoch in (1, 2):
        first(epoch, 2, {})
    second(1, 3, {})  # stopped early (patience): its two other epochs are skipped
    third(1, 1, {})
    assert calls == [(1, 6), (2, 6), (3, 6), (6, 6)]


GBERT_TINY = {**GBERT_JOB_TINY, "epochs": 2, "seed": 3}


@pytest.fixture(scope="module")
def gbert_job(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, Path, list[tuple[int, int]]]:
    """A G-BERT job's ingest, train and export steps through the toolkit, on synthetic data."""
    root = tmp_path_factory.mktemp("gbert-job")
    export = root / "export"
    write_mimic3_export(SynthConfig(patients=80, seed=7), export)
    toolkit = Toolkit()
    toolkit.ingest("mimic3", export, root / "dataset", {})
    calls: list[tuple[int, int]] = []
    toolkit.train(
        "gbert",
        root / "dataset",
        root / "run",
        GBERT_TINY,
        _ddi(root / "dataset"),
        lambda epoch, epochs, val: calls.append((epoch, epochs)),
    )
    toolkit.export(root / "run", root / "artifact", 2)
    return root / "dataset", root / "run", root / "artifact", calls


def _ddi(dataset: Path) -> Path:
    return dataset.parent / "export" / "ddi.csv"


@pytest.mark.slow
def test_a_gbert_job_trains_its_three_stages_as_one(
    gbert_job: tuple[Path, Path, Path, list[tuple[int, int]]],
) -> None:
    import json

    _, run, artifact, calls = gbert_job
    # pretrain 1, DHA 1 fusion + 1 continued pre-training, fine-tune 2: one count of 5 epochs.
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    lineage = json.loads((run / "run.json").read_text())["lineage"]
    assert lineage == ["pretrain", "dha", "finetune"]
    assert (run / "stages" / "pretrain" / "best.ckpt").is_file()
    assert (run / "stages" / "dha" / "best.ckpt").is_file()
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert (manifest["name"], manifest["version"]) == ("gbert", 2)


@pytest.mark.slow
def test_a_gbert_candidate_is_scored_on_its_own_test_split(
    gbert_job: tuple[Path, Path, Path, list[tuple[int, int]]],
) -> None:
    import json

    from app.jobs.evaluation import load_recommender, score_patients

    dataset, _, artifact, _ = gbert_job
    toolkit = Toolkit()
    held = toolkit.held_out(dataset, artifact, _ddi(dataset))
    split = json.loads((artifact / "manifest.json").read_text())["dataset"]["split"]
    assert len(held.patients) == split["counts"]["test"]
    assert sum(len(p) for p in held.patients) == split["visits"]["test"]  # first visits too
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert held.threshold == manifest["threshold"] and held.ddi_adj.any()
    assert [y.shape for y in held.y_true] == [(len(p), len(held.meds)) for p in held.patients]
    scored = toolkit.metrics(
        held, score_patients(load_recommender(artifact), held.patients, held.meds)
    )
    assert 0.0 <= scored["point"]["jaccard"] <= 1.0
    assert set(scored["bootstrap"]["jaccard"]) == {"mean", "std"}


@pytest.mark.slow
def test_held_out_refuses_a_split_that_is_not_the_candidates(
    gbert_job: tuple[Path, Path, Path, list[tuple[int, int]]], tmp_path: Path
) -> None:
    import json
    import shutil

    dataset, _, artifact, _ = gbert_job
    other = tmp_path / "artifact"
    shutil.copytree(artifact, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["dataset"]["split"]["seed"] += 1  # another shuffle: other test patients
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RuntimeError, match="differs from the candidate's"):
        Toolkit().held_out(dataset, other, _ddi(dataset))


@pytest.mark.slow
def test_a_gamenet_candidate_s_held_out_split_is_the_one_gamenet_tests_on(
    export: Path, tmp_path: Path
) -> None:
    """The model-agnostic held-out split is, for GAMENet, exactly its own prepared test split."""
    import json

    from training.data.splits import SplitConfig
    from training.gamenet.data import prepare_data
    from training.gamenet.steps import targets_of

    toolkit = Toolkit()
    toolkit.ingest("mimic3", export, tmp_path / "dataset", {})
    params = {"epochs": 1, "split": "random", "seed": 4}
    ddi = export / "ddi.csv"
    toolkit.train("gamenet", tmp_path / "dataset", tmp_path / "run", params, ddi, lambda *a: None)
    toolkit.export(tmp_path / "run", tmp_path / "artifact", 1)
    held = toolkit.held_out(tmp_path / "dataset", tmp_path / "artifact", ddi)
    data = prepare_data(tmp_path / "dataset", SplitConfig("random", 4), ddi)
    manifest = json.loads((tmp_path / "artifact" / "manifest.json").read_text())
    assert held.meds == list(data.vocabs.med.tokens)
    assert (held.seed, held.threshold) == (4, manifest["threshold"])  # the candidate's own
    assert [len(p) for p in held.patients] == [len(p.visits) for p in data.split.test]
    expected = targets_of(data.test, len(held.meds))
    assert all((a == b).all() for a, b in zip(held.y_true, expected, strict=True))
    assert (held.ddi_adj == data.ddi_adj).all()


@pytest.mark.slow
def test_an_ensemble_job_trains_gamenet_then_the_mix_and_exports_one_artifact(
    export: Path, tmp_path: Path
) -> None:
    import json

    toolkit = Toolkit()
    toolkit.ingest("mimic3", export, tmp_path / "dataset", {})
    calls: list[tuple[int, int]] = []
    params = {"epochs": 2, "split": "random", "seed": 5}
    toolkit.train(
        "ensemble",
        tmp_path / "dataset",
        tmp_path / "run",
        params,
        export / "ddi.csv",
        lambda epoch, epochs, val: calls.append((epoch, epochs)),
    )
    # GAMENet's two epochs, then the fit: one count of three.
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert (tmp_path / "run" / "members" / "gamenet" / "best.ckpt").is_file()
    toolkit.export(tmp_path / "run", tmp_path / "artifact", 1)
    manifest = json.loads((tmp_path / "artifact" / "manifest.json").read_text())
    assert manifest["name"] == "ensemble"
    members = [m["name"] for m in manifest["training"]["members"]]
    assert len(members) == 2 and "lr" in members
    held = toolkit.held_out(tmp_path / "dataset", tmp_path / "artifact", export / "ddi.csv")
    assert held.threshold == manifest["threshold"] and held.patients
