from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import ActivationError, ModelNotLoaded
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import write_recommender_artifact


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
    with pytest.raises(ActivationError, match="no manifest"):
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
