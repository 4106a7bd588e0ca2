from pathlib import Path

import torch

from models.genn import GENNConfig
from tests.training.genn.factories import write_fake_decagon
from training.genn.config import OptimConfig
from training.genn.data import GraphTensors
from training.genn.graph import load_decagon
from training.genn.steps import history_json, pretrain_gnn, train_genn


def test_genn_phase_trains_both_networks(tmp_path: Path) -> None:
    split = load_decagon(write_fake_decagon(tmp_path / "d"), seed=1, data_ratio=100)
    g = GraphTensors.from_split(split)
    model_config = GENNConfig(num_features=32, num_types=split.num_types, hidden=8)
    config = OptimConfig(pretrain_epochs=1, genn_epochs=2, patience=5)
    model, _ = pretrain_gnn(g, model_config, config, show_progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    energy, result = train_genn(model, g, model_config, config, show_progress=False)
    # F's step fixes E's parameters for a moment; E's own step must still train them.
    assert all(p.requires_grad for p in energy.parameters())
    assert all(p.grad is not None for p in energy.parameters())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    history = history_json(result)
    assert history["epochs_run"] == 2 and 0 < history["seconds_to_best"] <= result.seconds
