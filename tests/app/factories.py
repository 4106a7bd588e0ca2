"""Tiny, valid model artifacts built with ``onnx.helper`` (no torch) and synthetic patients.

The recommender is a logistic layer over mean-pooled diagnosis (and procedure) embeddings of all
real visits plus a linear term on the medication history, following the ONNX role contract of
``app.contract.manifest``. Weights are seeded, so tests are deterministic.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.contract.manifest import Manifest

DIAG = [["icd9cm", "4019"], ["icd9cm", "25000"], ["icd9cm", "4280"], ["icd10cm", "E1165"]]
PROC = [["icd9proc", "3893"], ["icd9proc", "9604"]]
MEDS = ["A02B", "B01A", "C07A", "N02B", "C09A"]
DIM = 4


def _pool(prefix: str, table: str, nodes: list[Any]) -> str:
    """Mean over visits and codes of the embeddings of ``<prefix>_ids`` weighted by the mask."""
    nodes += [
        helper.make_node("Gather", [table, f"{prefix}_ids"], [f"{prefix}_emb"]),
        helper.make_node("Unsqueeze", [f"{prefix}_mask", "axis_last"], [f"{prefix}_m4"]),
        helper.make_node("Mul", [f"{prefix}_emb", f"{prefix}_m4"], [f"{prefix}_wemb"]),
        helper.make_node("ReduceSum", [f"{prefix}_wemb", "axes_vc"], [f"{prefix}_sum"], keepdims=0),
        helper.make_node("ReduceSum", [f"{prefix}_mask", "axes_vc"], [f"{prefix}_n"], keepdims=1),
        helper.make_node("Max", [f"{prefix}_n", "one"], [f"{prefix}_n1"]),
        helper.make_node("Reshape", [f"{prefix}_n1", "shape_b1"], [f"{prefix}_nb"]),
        helper.make_node("Div", [f"{prefix}_sum", f"{prefix}_nb"], [f"{prefix}_mean"]),
    ]
    return f"{prefix}_mean"


def recommender_onnx(
    *,
    use_proc: bool = True,
    seed: int = 0,
    bias: float = 0.0,
    sizes: tuple[int, int, int] | None = None,
    dim: int = DIM,
    med_scale: float = 1.0,
) -> bytes:
    """Serialized ONNX bytes of the tiny recommender (opset 18); ``sizes`` = (diag, proc, med)."""
    rng = np.random.default_rng(seed)
    n_diag, n_proc, n_meds = sizes or (len(DIAG), len(PROC), len(MEDS))
    DIM = dim  # noqa: N806
    inits = [
        numpy_helper.from_array(rng.normal(0, 1, (n_diag, DIM)).astype(np.float32), "E_diag"),
        numpy_helper.from_array(rng.normal(0, 1, (n_proc, DIM)).astype(np.float32), "E_proc"),
        numpy_helper.from_array(rng.normal(0, 1, (DIM, n_meds)).astype(np.float32), "W"),
        numpy_helper.from_array(
            rng.normal(0, med_scale, (n_meds, n_meds)).astype(np.float32), "W_med"
        ),
        numpy_helper.from_array(np.full(n_meds, bias, np.float32), "bias"),
        numpy_helper.from_array(np.array([-1], np.int64), "axis_last"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes_vc"),
        numpy_helper.from_array(np.array([1], np.int64), "axes_v"),
        numpy_helper.from_array(np.array([1.0], np.float32), "one"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "shape_b1"),
    ]
    nodes: list[Any] = []
    pooled = _pool("diag", "E_diag", nodes)
    if use_proc:
        nodes.append(helper.make_node("Add", [pooled, _pool("proc", "E_proc", nodes)], ["pooled"]))
        pooled = "pooled"
    nodes += [
        helper.make_node("MatMul", [pooled, "W"], ["z1"]),
        helper.make_node("ReduceSum", ["med_history", "axes_v"], ["hist"], keepdims=0),
        helper.make_node("MatMul", ["hist", "W_med"], ["z2"]),
        helper.make_node("Add", ["z1", "z2"], ["z3"]),
        helper.make_node("Add", ["z3", "bias"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probabilities"]),
    ]
    inputs = [
        helper.make_tensor_value_info("diag_ids", TensorProto.INT64, ["B", "V", "Cd"]),
        helper.make_tensor_value_info("diag_mask", TensorProto.FLOAT, ["B", "V", "Cd"]),
    ]
    if use_proc:
        inputs += [
            helper.make_tensor_value_info("proc_ids", TensorProto.INT64, ["B", "V", "Cp"]),
            helper.make_tensor_value_info("proc_mask", TensorProto.FLOAT, ["B", "V", "Cp"]),
        ]
    inputs.append(
        helper.make_tensor_value_info("med_history", TensorProto.FLOAT, ["B", "V", n_meds])
    )
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["B", n_meds])
    graph = helper.make_graph(nodes, "tiny_recommender", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _specs(use_proc: bool, n_meds: int) -> list[dict[str, Any]]:
    specs = [
        {"name": "diag_ids", "role": "diag_ids", "dtype": "int64", "shape": ["B", "V", "Cd"]},
        {"name": "diag_mask", "role": "diag_mask", "dtype": "float32", "shape": ["B", "V", "Cd"]},
    ]
    if use_proc:
        specs += [
            {"name": "proc_ids", "role": "proc_ids", "dtype": "int64", "shape": ["B", "V", "Cp"]},
            {
                "name": "proc_mask",
                "role": "proc_mask",
                "dtype": "float32",
                "shape": ["B", "V", "Cp"],
            },
        ]
    specs.append(
        {
            "name": "med_history",
            "role": "med_history",
            "dtype": "float32",
            "shape": ["B", "V", n_meds],
        }
    )
    return specs


def write_recommender_artifact(
    out: Path,
    *,
    name: str = "gamenet",
    version: int = 1,
    use_proc: bool = True,
    seed: int = 0,
    bias: float = 0.0,
    vocab: dict[str, list[Any]] | None = None,
    dim: int = DIM,
    med_scale: float = 1.0,
) -> Manifest:
    """Write ``out/model.onnx`` and a valid ``out/manifest.json``; return the manifest.

    ``vocab`` (``{"diag", "proc", "med"}``) replaces the tiny default vocabulary (benchmarks).
    """
    out.mkdir(parents=True)
    vocab = vocab or {"diag": DIAG, "proc": PROC, "med": MEDS}
    if not use_proc:
        vocab = {**vocab, "proc": []}
    sizes = (len(vocab["diag"]), max(1, len(vocab["proc"])), len(vocab["med"]))
    data = recommender_onnx(
        use_proc=use_proc, seed=seed, bias=bias, sizes=sizes, dim=dim, med_scale=med_scale
    )
    (out / "model.onnx").write_bytes(data)
    manifest = Manifest.model_validate(
        {
            "schema": 1,
            "name": name,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "onnx_sha256": hashlib.sha256(data).hexdigest(),
            "opset": 18,
            "inputs": _specs(use_proc, len(vocab["med"])),
            "outputs": [
                {
                    "name": "probabilities",
                    "role": "probabilities",
                    "dtype": "float32",
                    "shape": ["B", len(vocab["med"])],
                }
            ],
            "vocab": vocab,
            "threshold": 0.3,
            "metrics": {"test": {"jaccard": {"mean": 0.42, "std": 0.01}}},
            "dataset": {
                "fingerprint": "sha256:synthetic-test",
                "source_format": "synthetic",
                "patients": 10,
                "visits": 30,
            },
            "intended_use": "Unit tests only. Not for clinical use.",
            "synthetic": True,
        }
    )
    text = json.dumps(manifest.model_dump(mode="json", by_alias=True), indent=2)
    (out / "manifest.json").write_text(text + "\n")
    return manifest


def patient(n_visits: int = 3) -> dict[str, Any]:
    """A synthetic request body with ``n_visits`` visits (codes with dots, as users send them)."""
    visits = [
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "401.9"},
                {"system": "icd9cm", "code": "250.00"},
            ],
            "procedures": [{"system": "icd9proc", "code": "38.93"}],
            "medications": ["C07AB02", "B01AC06"],
        }
        for _ in range(n_visits - 1)
    ]
    visits.append(
        {
            "diagnoses": [
                {"system": "icd9cm", "code": "428.0"},
                {"system": "icd9cm", "code": "401.9"},
            ],
            "procedures": [{"system": "icd9proc", "code": "96.04"}],
        }
    )
    return {"visits": visits}


def write_pair_risk_artifact(
    out: Path,
    *,
    version: int = 1,
    drugs: list[str] | None = None,
    types: list[str] | None = None,
    bias: float = 0.0,
) -> Manifest:
    """A tiny ``genn``-style artifact: drug-pair ids ``[P, 2]`` in, type probabilities out.

    ``drugs`` and ``types`` replace the tiny default vocabularies and a negative ``bias`` on the
    logits makes interactions rarer (benchmarks).
    """
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    drugs = drugs or MEDS
    types = types or ["bleeding", "hypotension", "qt"]
    n_types = len(types)
    inits = [
        numpy_helper.from_array(rng.normal(0, 1, (len(drugs), DIM)).astype(np.float32), "E"),
        numpy_helper.from_array(rng.normal(0, 1, (DIM, n_types)).astype(np.float32), "W"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([bias], np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("Gather", ["E", "pairs"], ["emb"]),
        helper.make_node("ReduceSum", ["emb", "axis1"], ["pair"], keepdims=0),
        helper.make_node("MatMul", ["pair", "W"], ["z"]),
        helper.make_node("Add", ["z", "bias"], ["zb"]),
        helper.make_node("Sigmoid", ["zb"], ["type_probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_pair_risk",
        [helper.make_tensor_value_info("pairs", TensorProto.INT64, ["P", 2])],
        [helper.make_tensor_value_info("type_probabilities", TensorProto.FLOAT, ["P", n_types])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    data = model.SerializeToString()
    (out / "model.onnx").write_bytes(data)
    manifest = Manifest.model_validate(
        {
            "schema": 1,
            "name": "genn",
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "onnx_sha256": hashlib.sha256(data).hexdigest(),
            "opset": 18,
            "inputs": [{"name": "pairs", "role": "pairs", "dtype": "int64", "shape": ["P", 2]}],
            "outputs": [
                {
                    "name": "type_probabilities",
                    "role": "type_probabilities",
                    "dtype": "float32",
                    "shape": ["P", n_types],
                }
            ],
            "vocab": {"drug": drugs, "types": types},
            "threshold": 0.5,
            "dataset": {
                "fingerprint": "sha256:t",
                "source_format": "synthetic",
                "patients": 0,
                "visits": 0,
            },
            "intended_use": "Unit tests only.",
            "synthetic": True,
        }
    )
    (out / "manifest.json").write_text(manifest.model_dump_json(by_alias=True))
    return manifest
