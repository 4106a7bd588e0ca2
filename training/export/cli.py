"""``medrec export RUN_DIR --out ARTIFACT_DIR``: see :mod:`training.export.runner`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `medrec train`.")],
    out: Annotated[Path, typer.Option(help="Artifact directory to create.")],
    version: Annotated[int, typer.Option(min=1, help="Model version (monotonic per name).")] = 1,
) -> None:
    """Export a trained run to ONNX + manifest.json, checking torch ↔ onnxruntime parity."""
    from training.export.runner import export_run

    manifest = export_run(run_dir, out, version=version)
    typer.echo(f"wrote {out} ({manifest.name} v{manifest.version}, sha256 {manifest.onnx_sha256})")
