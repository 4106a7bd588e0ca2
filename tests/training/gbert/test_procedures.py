"""Procedures as G-BERT input tokens (``codes = "diag+proc"``), and runs without them."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.training.gbert.conftest import tiny_config
from training.data.dataset import Dataset
from training.gbert.export import PROC_ROLES, ROLES, example_feeds, serving_module
from training.gbert.predict import load_predictor
from training.gbert.run import train
from training.gbert.runs import load_model


@pytest.mark.slow
def test_every_stage_of_a_procedure_chain_reads_procedures(proc_runs):
    root, _ = proc_runs
    for stage in ("pre", "dha", "ft"):
        assert json.loads((root / stage / "run.json").read_text())["codes"] == "diag+proc"
    model, _ = load_model(root / "ft")
    config = model.encoder.config
    assert config.use_procedures and config.num_proc_codes == 5 and config.key_maps is not None


@pytest.mark.slow
def test_a_procedure_run_exports_the_proc_roles_at_parity(proc_runs):
    from training.export.artifact import max_parity_error
    from training.export.runner import export_run

    root, _ = proc_runs
    manifest = export_run(root / "ft", root / "artifact")
    assert [i.role for i in manifest.inputs] == list(PROC_ROLES)
    assert manifest.training["parity_max_abs_error"] <= 1e-5
    assert manifest.training["codes"] == "diag+proc"
    # other batch / visit / code counts than the export's example: the axes are dynamic
    model, _ = load_model(root / "ft")
    cfg = model.encoder.config
    feeds = example_feeds(cfg.num_diag_codes, cfg.num_meds, 4, num_proc=cfg.num_proc_codes)
    other = {k: v[:2, :2] for k, v in feeds.items()}
    for role in ("proc_ids", "proc_mask"):
        other[role] = other[role].repeat(1, 1, 2)
    wrapper = serving_module(model)
    assert max_parity_error(wrapper, root / "artifact" / "model.onnx", other) <= 1e-5


@pytest.mark.slow
def test_the_predictor_feeds_each_visits_procedures(proc_dataset, proc_runs):
    root, _ = proc_runs
    predictor = load_predictor(root / "ft")
    patients = Dataset(proc_dataset).load()
    long = next(p for p in patients if len(p.visits) >= 2 and p.visits[-1].procedures)
    full = predictor.predict([long])[0]
    last = replace(long.visits[-1], procedures=())
    without = predictor.predict([replace(long, visits=(*long.visits[:-1], last))])[0]
    assert np.abs(without[-1] - full[-1]).max() > 1e-6  # the last visit's procedures are read
    np.testing.assert_allclose(without[:-1], full[:-1], atol=1e-6)  # and only from that visit on


@pytest.mark.slow
def test_diag_keeps_the_papers_inputs_on_a_dataset_with_procedures(proc_dataset, tmp_path):
    train(proc_dataset, tmp_path / "pre", tiny_config(codes="diag"))
    train(proc_dataset, tmp_path / "ft", tiny_config(stage="finetune"), init_dir=tmp_path / "pre")
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["codes"] == "diag"  # inherited from the pre-training, whatever finetune's option
    model, _ = load_model(tmp_path / "ft")
    assert not model.encoder.config.use_procedures
    assert model.encoder.px_onto is None and model.encoder.type_embedding.num_embeddings == 2
    assert serving_module(model).reads_procedures is False
    from training.gbert.export import build

    assert [s.role for s in build(tmp_path / "ft").inputs] == list(ROLES)


@pytest.mark.slow
def test_a_dataset_without_procedures_trains_diag(runs):
    root, _ = runs
    for stage in ("pre", "dha", "ft"):
        assert json.loads((root / stage / "run.json").read_text())["codes"] == "diag"


@pytest.mark.slow
def test_a_run_written_before_the_option_still_loads_and_predicts(dataset, runs, tmp_path):
    root, _ = runs
    old = tmp_path / "old-ft"
    shutil.copytree(root / "ft", old)
    run = json.loads((old / "run.json").read_text())
    del run["codes"], run["run_config"]["codes"]
    for key in ("use_procedures", "num_proc_codes"):
        del run["model_config"][key]
    (old / "run.json").write_text(json.dumps(run))
    ckpt = torch.load(old / "best.ckpt", weights_only=True)
    for key in ("use_procedures", "num_proc_codes"):
        del ckpt["config"][key]
    torch.save(ckpt, old / "best.ckpt")
    patients = Dataset(dataset).load()[:6]
    before = load_predictor(root / "ft").predict(patients)
    after = load_predictor(old).predict(patients)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    from training.gbert.export import build

    bundle = build(old)
    assert [s.role for s in bundle.inputs] == list(ROLES)
    assert bundle.fields["training"]["codes"] == "diag"
