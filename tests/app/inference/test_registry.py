from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from app.contract.manifest import Manifest
from app.errors import ActivationError, ArtifactError, ModelNotLoaded
from app.inference.pair_risk import PairRisk, UnknownDrug
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import write_pair_risk_artifact, write_recommender_artifact


def test_tampered_artifact_is_refused_and_old_model_keeps_serving(tmp_path: Path) -> None:
    registry = ModelRegistry()
    write_recommender_artifact(tmp_path / "v1")
    registry.install(prepare(registry, tmp_path / "v1"))
    manifest = write_recommender_artifact(tmp_path / "v2", version=2, seed=1)
    onnx = tmp_path / "v2" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ActivationError, match="sha256"):
        registry.prepare(
            name="gamenet", version=2, sha256=manifest.onnx_sha256, path=tmp_path / "v2"
        )
    assert registry.get("gamenet").version == 1


def test_manifest_with_wrong_inputs_is_refused(tmp_path: Path) -> None:
    write_recommender_artifact(tmp_path / "a")
    path = tmp_path / "a" / "manifest.json"
    data = json.loads(path.read_text())
    data["inputs"].append(
        {"name": "visit_mask", "role": "visit_mask", "dtype": "float32", "shape": ["B", "V"]}
    )
    path.write_text(json.dumps(data))
    with pytest.raises(ActivationError, match="graph inputs differ"):
        prepare(ModelRegistry(), tmp_path / "a")


def test_broken_manifest_and_missing_dir(tmp_path: Path) -> None:
    write_recommender_artifact(tmp_path / "a")
    (tmp_path / "a" / "manifest.json").write_text("{not json")
    registry = ModelRegistry()
    with pytest.raises(ActivationError, match="breaks the contract"):
        registry.prepare(name="gamenet", version=1, sha256="0" * 64, path=tmp_path / "a")
    with pytest.raises(ActivationError, match="does not exist"):
        registry.prepare(name="gamenet", version=1, sha256="0" * 64, path=tmp_path / "nope")


def test_install_swaps_and_get_without_model_raises(tmp_path: Path) -> None:
    registry = ModelRegistry()
    with pytest.raises(ModelNotLoaded):
        registry.get("gamenet")
    write_recommender_artifact(tmp_path / "v1")
    write_recommender_artifact(tmp_path / "v2", version=2, seed=1)
    v1 = prepare(registry, tmp_path / "v1")
    registry.install(v1)
    held = registry.get("gamenet")
    assert registry.install(prepare(registry, tmp_path / "v2")) is v1
    assert registry.get("gamenet").version == 2
    assert held.version == 1 and held.recommender is not None  # in-flight holders keep v1


def test_a_genn_artifact_is_served_by_the_pair_risk_scorer(tmp_path: Path) -> None:
    write_pair_risk_artifact(tmp_path / "genn")
    registry = ModelRegistry()
    loaded = prepare(registry, tmp_path / "genn")
    assert loaded.pair_risk is not None and loaded.recommender is None
    [risk, unknown] = loaded.pair_risk.predict([("A02B", "B01A"), ("A02B", "Z99Z")])
    assert isinstance(risk, PairRisk) and 0 < risk.risk < 1 and len(risk.top_types) == 3
    assert isinstance(unknown, UnknownDrug) and unknown.drugs == ("Z99Z",)


def test_a_pair_risk_factory_that_refuses_the_artifact_is_an_activation_error(
    tmp_path: Path,
) -> None:
    write_pair_risk_artifact(tmp_path / "genn")
    with pytest.raises(ActivationError, match="refused"):
        prepare(ModelRegistry(pair_risk_factory=_refuses), tmp_path / "genn")


def _refuses(manifest: Manifest, session: ort.InferenceSession) -> Any:
    raise ArtifactError("refused")
