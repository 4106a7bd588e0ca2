"""Opening an artifact: each file read once, safely; sha256 check, manifest, one session.

Each file is read once, through a descriptor of the artifact directory, and what is checked is
what is used: the sha256 is computed over the bytes onnxruntime then builds its session from,
so a file or symlink swapped after the check is never served under the registered hash.
Symbolic links and anything but regular files are refused (a FIFO named ``manifest.json`` would
block the read forever). Error details name the file, never a server path.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from pydantic import ValidationError

from app.contract.artifact import MANIFEST_FILE, ONNX_FILE
from app.contract.manifest import Manifest
from app.errors import ArtifactError, ArtifactNotFound

logger = logging.getLogger(__name__)

_ORT_DTYPES = {"tensor(int64)": "int64", "tensor(float)": "float32"}
_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_MANIFEST_BYTES = 64 << 20  # vocabularies of 100k codes are a few MB
MAX_ONNX_BYTES = 4 << 30


def read_artifact_file(artifact_dir: Path, name: str, max_bytes: int) -> bytes:
    """Return the bytes of the regular file ``name`` in ``artifact_dir``, read once.

    Raises:
        ArtifactNotFound: the directory or the file does not exist.
        ArtifactError: either is a symbolic link or not a regular file/directory, or the file
            is larger than ``max_bytes``.
    """
    try:
        dir_fd = os.open(artifact_dir, _NO_FOLLOW | os.O_DIRECTORY)
    except FileNotFoundError:
        raise ArtifactNotFound("the artifact directory does not exist") from None
    except OSError as exc:
        raise ArtifactError(f"the artifact directory cannot be opened ({_why(exc)})") from None
    try:
        try:
            fd = os.open(name, _NO_FOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            raise ArtifactNotFound(f"{name} is missing from the artifact directory") from None
        except OSError as exc:
            raise ArtifactError(f"{name} cannot be opened ({_why(exc)})") from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactError(f"{name} is not a regular file")
            if info.st_size > max_bytes:
                raise ArtifactError(f"{name} is larger than {max_bytes} bytes")
            data = fh.read(max_bytes + 1)
    finally:
        os.close(dir_fd)
    if len(data) > max_bytes:
        raise ArtifactError(f"{name} is larger than {max_bytes} bytes")
    return data


def _why(exc: OSError) -> str:
    return "a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or "unreadable")


def read_manifest(artifact_dir: Path) -> Manifest:
    """Read and validate ``manifest.json`` of ``artifact_dir``.

    Raises:
        ArtifactError: if the directory or manifest is missing, unsafe or breaks the contract.
    """
    raw = read_artifact_file(Path(artifact_dir), MANIFEST_FILE, MAX_MANIFEST_BYTES)
    try:
        return Manifest.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        fields = ""
        if isinstance(exc, ValidationError):
            fields = (
                " (fields: "
                + ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
                + ")"
            )
        raise ArtifactError(f"manifest.json breaks the contract{fields}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"cannot read manifest.json ({type(exc).__name__})") from None


def read_onnx(artifact_dir: Path) -> tuple[bytes, str]:
    """Return the bytes of ``model.onnx`` and their sha256, from one read."""
    data = read_artifact_file(Path(artifact_dir), ONNX_FILE, MAX_ONNX_BYTES)
    return data, hashlib.sha256(data).hexdigest()


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
    model, digest = read_onnx(artifact_dir)
    if digest != expected_sha256 or digest != manifest.onnx_sha256:
        raise ArtifactError("model.onnx: sha256 does not match the registry and manifest")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    try:
        session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a broken graph
        raise ArtifactError(
            f"model.onnx: onnxruntime cannot load the graph ({type(exc).__name__})"
        ) from exc
    _check_signature(session, manifest)
    return session


def _check_signature(session: ort.InferenceSession, manifest: Manifest) -> None:
    graph_inputs = {i.name: _ORT_DTYPES.get(i.type, i.type) for i in session.get_inputs()}
    declared = {t.name: t.dtype for t in manifest.inputs}
    if graph_inputs != declared:
        raise ArtifactError("model.onnx: graph inputs differ from the manifest's inputs")
    graph_outputs = {o.name for o in session.get_outputs()}
    if not {t.name for t in manifest.outputs} <= graph_outputs:
        raise ArtifactError("model.onnx: manifest outputs are missing from the graph")
