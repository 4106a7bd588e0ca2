"""Provenance recorded in every run and artifact: the code's git commit and package versions."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np
import torch


def git_sha() -> str:
    """Return HEAD (``+dirty`` with uncommitted changes), or ``"unknown"`` outside git."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=40", "--match=none"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def versions() -> dict[str, str]:
    """Return the versions of Python and the numeric packages used."""
    import torch_geometric

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": np.__version__,
    }
