"""The artifact directory's layout and its hash: ``model.onnx`` + ``manifest.json`` (+ reports)."""

from __future__ import annotations

import hashlib
from pathlib import Path

ONNX_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
REPORT_FILES = ("report.md", "curves.png")  # optional, copied from the run
# The version's evaluation report (the run beside the baselines on its held-out split): one
# self-contained HTML page, written by the export for recommenders.
REPORT_FILE = "report.html"


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
