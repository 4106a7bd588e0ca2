"""Loading the training side by name (``app.contract.entry_points``), never by import."""

from __future__ import annotations

import importlib
from typing import Any

from app.contract.entry_points import TRAIN_EXTRA
from app.errors import MedRecError

# Packages of the training extra: a missing one means that extra is not installed.
_TRAINING_PACKAGES = frozenset({"training", "models", "torch", "torch_geometric", "polars"})


class TrainingNotInstalled(MedRecError):
    """The training side (or a package of the training extra) is not installed here."""

    status = 501
    title = "Training not installed"


def load_entry_point(spec: str) -> Any:
    """Return the object named ``module:attribute``.

    Raises:
        TrainingNotInstalled: the module itself, or a package of the training extra it needs,
            is missing from this environment. Any other missing import is raised as it is.
    """
    module, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        is_entry_module = missing == module or module.startswith(f"{missing}.")
        if is_entry_module or missing.partition(".")[0] in _TRAINING_PACKAGES:
            raise TrainingNotInstalled(
                f"{spec} needs the training extra ({missing} is not installed): {TRAIN_EXTRA}"
            ) from None
        raise
