"""Writing a model artifact: ONNX export, the torch↔onnxruntime parity check, and ``manifest.json``.

Every model's exporter builds its wrapper module and its manifest fields, then calls these, so that
all artifacts satisfy the contract in ``app.contract.manifest`` the same way.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from app.contract.artifact import MANIFEST_FILE, ONNX_FILE, sha256_file
from app.contract.manifest import MANIFEST_SCHEMA, Manifest, TensorSpec

logger = logging.getLogger(__name__)

OPSET = 18


def export_onnx(
    module: torch.nn.Module,
    example: Mapping[str, torch.Tensor],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    path: Path,
) -> None:
    """Export ``module`` (called with the tensors of ``example`` in ``inputs`` order) to ``path``.

    Axes whose ``TensorSpec.shape`` entry is a string become dynamic, shared by name across inputs.
    """
    module.eval()
    dims: dict[str, torch.export.Dim] = {}
    dynamic_shapes = []
    for spec in inputs:
        axes = {}
        for axis, size in enumerate(spec.shape):
            if isinstance(size, str):
                axes[axis] = dims.setdefault(size, torch.export.Dim(size))
        dynamic_shapes.append(axes)
    args = tuple(example[spec.name] for spec in inputs)
    with warnings.catch_warnings():
        # The exporter narrates its progress through warnings and prints; neither is actionable.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=[s.name for s in inputs],
            output_names=[s.name for s in outputs],
            dynamic_shapes=tuple(dynamic_shapes),
            opset_version=OPSET,
            dynamo=True,
            # Weights inside model.onnx: the artifact is one file, hashed as one.
            external_data=False,
            verbose=False,
        )


def max_parity_error(
    module: torch.nn.Module, onnx_path: Path, feeds: Mapping[str, torch.Tensor]
) -> float:
    """Return the largest absolute difference between torch and onnxruntime on ``feeds``."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    ort_out = session.run(None, {n: feeds[n].numpy() for n in names})
    module.eval()
    with torch.no_grad():
        torch_out = module(*(feeds[n] for n in names))
    if isinstance(torch_out, torch.Tensor):
        torch_out = (torch_out,)
    return max(float(np.abs(o - t.numpy()).max()) for o, t in zip(ort_out, torch_out, strict=True))


def write_artifact(onnx_path: Path, fields: dict[str, Any], out_dir: Path) -> Manifest:
    """Copy ``onnx_path`` and a validated manifest into ``out_dir`` atomically.

    ``fields`` holds every manifest field except ``onnx_sha256``, ``opset`` and ``created_at``,
    which are filled in here.

    Raises:
        FileExistsError: if ``out_dir`` already exists.
        pydantic.ValidationError: if the fields break the manifest contract.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir}: artifact directory already exists")
    manifest = Manifest.model_validate(
        {
            "schema": MANIFEST_SCHEMA,
            **fields,
            "onnx_sha256": sha256_file(onnx_path),
            "opset": OPSET,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        shutil.copyfile(onnx_path, tmp / ONNX_FILE)
        text = json.dumps(manifest.model_dump(mode="json", by_alias=True), indent=2)
        (tmp / MANIFEST_FILE).write_text(text + "\n")
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote artifact %s (%s v%d)", out_dir, manifest.name, manifest.version)
    return manifest
