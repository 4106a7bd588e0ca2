"""Export a GENN run to an artifact: ψ on precomputed node embeddings, as ONNX.

The node embeddings ``H = Enc(X, known pairs)`` are computed once here (eval mode) and embedded
in the graph as a constant, so serving needs only drug-index pairs: input role ``pairs`` (int64
``[P, 2]``, indices into ``vocab["drug"]``), output role ``type_probabilities`` (float32
``[P, T]``, columns in ``vocab["types"]`` order). The wrapper orders each pair as
``(min, max)`` before decoding, matching training (pairs are stored with ``a < b``), so a pair
scores the same in both orders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from app.contract.manifest import TensorSpec
from models.genn import EdgeDecoder, GENNConfig, GENNInference

PARITY_TOLERANCE = 1e-5
THRESHOLD = 0.5
INTENDED_USE = (
    "Research/decision-support demo: predicted interaction-type probabilities for ATC3 class "
    "pairs, learned from the DDI table named in ddi_source. Not a substitute for a curated "
    "interaction check or clinical judgement."
)


class PairScorer(nn.Module):
    """ψ decoder over constant node embeddings; returns type probabilities of drug pairs.

    Args:
        h: node embeddings ``[N, D]`` (stored as a buffer).
        decoder: the test-time decoder ψ.
    """

    def __init__(self, h: Tensor, decoder: EdgeDecoder) -> None:
        super().__init__()
        self.register_buffer("h", h.detach().clone())
        self.decoder = decoder

    def forward(self, pairs: Tensor) -> Tensor:
        """Return ``sigmoid(ψ(h_min, h_max))`` ``[P, T]`` for ``pairs`` ``[P, 2]``."""
        lo = torch.minimum(pairs[:, 0], pairs[:, 1])  # [P]
        hi = torch.maximum(pairs[:, 0], pairs[:, 1])  # [P]
        h: Tensor = self.h  # type: ignore[assignment]
        return torch.sigmoid(self.decoder(h, torch.stack([lo, hi], dim=1)))


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], GENNInference, dict[str, Any]]:
    """Return (run.json, metrics.json, the best GENN inference network in eval mode, checkpoint)."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    if run.get("model") != "genn":
        raise ValueError(f"{run_dir}: run.json model is {run.get('model')!r}, expected 'genn'")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ckpt = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=True)
    model = GENNInference(GENNConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return run, metrics, model, ckpt


def _summary(values: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {k: ({"mean": v, "std": 0.0} if isinstance(v, float) else v) for k, v in values.items()}


def build(
    run_dir: Path,
) -> tuple[nn.Module, dict[str, Tensor], list[TensorSpec], list[TensorSpec], dict[str, Any]]:
    """Return (wrapper, example feeds, input specs, output specs, manifest fields) of a run."""
    run, metrics, model, ckpt = load_run(run_dir)
    with torch.no_grad():
        h = model.encode(ckpt["x"], ckpt["export_edge_index"], ckpt["export_edge_attr"])
    wrapper = PairScorer(h, model.psi).eval()
    drugs, types = run["vocab"]["drug"], run["vocab"]["types"]
    gen = torch.Generator().manual_seed(0)
    example = {"pairs": torch.randint(0, len(drugs), (16, 2), generator=gen, dtype=torch.int64)}
    inputs = [TensorSpec(name="pairs", role="pairs", dtype="int64", shape=["P", 2])]
    outputs = [
        TensorSpec(
            name="type_probabilities",
            role="type_probabilities",
            dtype="float32",
            shape=["P", len(types)],
        )
    ]
    data, boot = run["data"], metrics["bootstrap_test"]
    fields = {
        "name": "genn",
        "version": 1,
        "inputs": [s.model_dump() for s in inputs],
        "outputs": [s.model_dump() for s in outputs],
        "vocab": {"drug": drugs, "types": types},
        "threshold": THRESHOLD,
        "metrics": {"test": boot["genn"], "val": _summary(metrics["genn"]["val"])},
        "baselines": {"gnn": boot["gnn"], "mlp": boot["mlp"]},
        "dataset": {
            "fingerprint": data["fingerprint"],
            "source_format": "ddi-table",
            "split": run["split"],
            "patients": 0,
            "visits": 0,
        },
        "ddi_source": {
            "name": data["name"],
            "fingerprint": data["fingerprint"],
            "pairs": data["pairs"],
        },
        "intended_use": INTENDED_USE,
        "synthetic": bool(run["run_config"].get("synthetic", False)),
        "training": {
            "seed": run["seed"],
            "git_sha": run["git_sha"],
            "versions": run["versions"],
            "run_config": run["run_config"],
            "node_features": run["split"].get("node_features", {"kind": "random-projection"}),
        },
    }
    return wrapper, example, inputs, outputs, fields
