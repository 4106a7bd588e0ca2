"""Opening an artifact: sha256 check, manifest validation, one onnxruntime session."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from pydantic import ValidationError

from app.contract.artifact import MANIFEST_FILE, ONNX_FILE, sha256_file
from app.contract.manifest import Manifest
from app.errors import ArtifactError, ArtifactNotFound

logger = logging.getLogger(__name__)

_ORT_DTYPES = {"tensor(int64)": "int64", "tensor(float)": "float32"}


def read_manifest(artifact_dir: Path) -> Manifest:
    """Read and validate ``manifest.json`` of ``artifact_dir``.

    Raises:
        ArtifactError: if the directory or manifest is missing or breaks the contract.
    """
    path = Path(artifact_dir) / MANIFEST_FILE
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except (FileNotFoundError, NotADirectoryError):
        raise ArtifactNotFound(f"{path}: no manifest.json in the artifact directory") from None
    except (json.JSONDecodeError, ValidationError) as exc:
        fields = ""
        if isinstance(exc, ValidationError):
            fields = (
                " (fields: "
                + ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
                + ")"
            )
        raise ArtifactError(f"{path}: manifest.json breaks the contract{fields}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read manifest.json ({type(exc).__name__})") from None


@dataclass(frozen=True)
class OrtOptions:
    """Session options taken from settings."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1


def open_session(
    artifact_dir: Path, manifest: Manifest, expected_sha256: str, options: OrtOptions
) -> ort.InferenceSession:
    """Verify ``model.onnx`` against the registry hash and the manifest, then open it.

    Raises:
        ArtifactError: on a hash mismatch, an unreadable graph, or inputs/outputs that differ
            from the manifest's.
    """
    path = Path(artifact_dir) / ONNX_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: model.onnx is missing")
    digest = sha256_file(path)
    if digest != expected_sha256 or digest != manifest.onnx_sha256:
        raise ArtifactError(f"{path}: sha256 does not match the registry and manifest")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    try:
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a broken graph
        raise ArtifactError(
            f"{path}: onnxruntime cannot load the graph ({type(exc).__name__})"
        ) from exc
    _check_signature(session, manifest, path)
    return session


def _check_signature(session: ort.InferenceSession, manifest: Manifest, path: Path) -> None:
    graph_inputs = {i.name: _ORT_DTYPES.get(i.type, i.type) for i in session.get_inputs()}
    declared = {t.name: t.dtype for t in manifest.inputs}
    if graph_inputs != declared:
        raise ArtifactError(f"{path}: graph inputs differ from the manifest's inputs")
    graph_outputs = {o.name for o in session.get_outputs()}
    if not {t.name for t in manifest.outputs} <= graph_outputs:
        raise ArtifactError(f"{path}: manifest outputs are missing from the graph")
