"""Issue 16, items 5 and 6: artifacts are read once and only from where the server keeps them."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from app.contract.visits import RawVisit
from app.errors import ActivationError
from app.inference import onnx as onnx_module
from app.inference.onnx import read_manifest
from app.inference.registry import ModelRegistry
from app.settings import Settings
from tests.app.conftest import prepare
from tests.app.factories import DIAG, write_recommender_artifact

URL = "/v1/models"


@pytest.fixture
def artifacts(settings: Settings) -> Path:
    out = settings.artifacts_dir / uuid.uuid4().hex
    out.mkdir(parents=True)
    return out


def _scores(registry: ModelRegistry) -> Any:
    recommender = registry.get("gamenet").recommender
    assert recommender is not None
    visit = RawVisit(diagnoses=[tuple(DIAG[0])])  # type: ignore[list-item]
    return [m.probability for m in recommender.recommend([visit], threshold=0.0).medications]


def test_model_swapped_after_the_hash_check_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recommender_artifact(tmp_path / "good", seed=0)
    write_recommender_artifact(tmp_path / "evil", seed=9)
    evil = (tmp_path / "evil" / "model.onnx").read_bytes()
    expected = ModelRegistry()
    expected.install(prepare(expected, tmp_path / "good"))
    real_session = ort.InferenceSession

    def swap_then_load(model: Any, *args: Any, **kwargs: Any) -> Any:
        (tmp_path / "good" / "model.onnx").write_bytes(evil)  # the race, won every time
        return real_session(model, *args, **kwargs)

    monkeypatch.setattr(onnx_module.ort, "InferenceSession", swap_then_load)
    served = ModelRegistry()
    served.install(prepare(served, tmp_path / "good"))
    assert np.allclose(_scores(served), _scores(expected))


@pytest.mark.parametrize("name", ["manifest.json", "model.onnx"])
def test_symlinked_artifact_files_are_refused(tmp_path: Path, name: str) -> None:
    write_recommender_artifact(tmp_path / "real")
    write_recommender_artifact(tmp_path / "a")
    (tmp_path / "a" / name).unlink()
    (tmp_path / "a" / name).symlink_to(tmp_path / "real" / name)
    sha256 = read_manifest(tmp_path / "real").onnx_sha256
    with pytest.raises(ActivationError, match="symbolic link"):
        ModelRegistry().prepare(name="gamenet", version=1, sha256=sha256, path=tmp_path / "a")


def test_paths_outside_the_artifacts_dir_are_refused(
    client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    write_recommender_artifact(tmp_path / "outside", version=31)
    r = client.post(URL, json={"path": str(tmp_path / "outside")}, headers=admin)
    assert r.status_code == 403
    assert str(tmp_path) not in r.text


def test_directory_symlinks_are_refused(
    client: TestClient, admin: dict[str, str], artifacts: Path, tmp_path: Path
) -> None:
    write_recommender_artifact(tmp_path / "elsewhere", version=32)
    (artifacts / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    r = client.post(URL, json={"path": str(artifacts / "link")}, headers=admin)
    assert r.status_code == 403
    assert "symbolic link" in r.json()["detail"]


@pytest.mark.parametrize("where", ["/proc/self", "missing", "empty"])
def test_error_details_name_no_server_path(
    client: TestClient, admin: dict[str, str], artifacts: Path, where: str
) -> None:
    (artifacts / "empty").mkdir()
    path = where if where.startswith("/") else str(artifacts / where)
    r = client.post(URL, json={"path": path}, headers=admin)
    assert r.status_code in (403, 404, 422)
    detail = r.json()["detail"]
    assert "/" not in detail.replace("artifacts or import", ""), detail


def test_fifo_manifest_is_refused_without_hanging(
    client: TestClient, admin: dict[str, str], artifacts: Path
) -> None:
    write_recommender_artifact(artifacts / "fifo", version=33)
    (artifacts / "fifo" / "manifest.json").unlink()
    os.mkfifo(artifacts / "fifo" / "manifest.json")
    answer: dict[str, Any] = {}

    def register() -> None:
        answer["r"] = client.post(URL, json={"path": str(artifacts / "fifo")}, headers=admin)

    thread = threading.Thread(target=register)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # unblock the hung read, then fail
        with open(artifacts / "fifo" / "manifest.json", "w"):
            pass
        thread.join()
        pytest.fail("registering a FIFO manifest hung")
    assert answer["r"].status_code == 422
    assert "regular file" in answer["r"].json()["detail"]
