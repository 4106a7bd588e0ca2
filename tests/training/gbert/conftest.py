"""Tiny datasets (with their own ddi.csv) and the pretrain → dha → finetune chains trained on them.

``dataset`` has no procedures (its runs read diagnoses, as the paper); ``proc_dataset`` has the
same diagnoses plus procedures that bring medications of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.contract.ddi_table import DdiPair, DdiTable
from tests.training.gbert.factories import tiny_patients
from training.data.dataset import write_dataset
from training.gbert.config import TrainConfig
from training.gbert.run import train

TINY = {"hidden": 16, "heads": 4, "head_dim": 4, "intermediate": 16, "batch_size": 16, "epochs": 1}
# Two pairs among the factory's medications: the dataset's own table, which the runs must read.
DDI = DdiTable.from_pairs([DdiPair("N02B", "C07A"), DdiPair("A02B", "B01A")], name="tiny")


def tiny_config(**kw: Any) -> TrainConfig:
    """The tiny stage config with ``kw`` on top."""
    return TrainConfig(**{**TINY, **kw})


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gbert") / "data"
    write_dataset(tiny_patients(60), path, source_format="synthetic", ddi=DDI)
    return path


def _pipeline(dataset: Path, finetune: TrainConfig) -> tuple[Path, dict[str, dict[str, Any]]]:
    """pretrain → dha (50%) → ``finetune``, in ``dataset``'s temporary folder."""
    root = dataset.parent
    out = {"pre": train(dataset, root / "pre", tiny_config())}
    out["dha"] = train(
        dataset,
        root / "dha",
        tiny_config(stage="dha", kv_budget=0.5, fusion_epochs=1),
        init_dir=root / "pre",
    )
    out["ft"] = train(dataset, root / "ft", finetune, init_dir=root / "dha")
    return root, out


@pytest.fixture(scope="session")
def runs(dataset: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """pretrain → dha (50%) → finetune (MoR), in one temporary folder."""
    return _pipeline(dataset, tiny_config(stage="finetune", adapter="mor", rank=2, experts=2))


@pytest.fixture(scope="session")
def proc_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gbert-proc") / "data"
    write_dataset(tiny_patients(60, procedures=True), path, source_format="synthetic", ddi=DDI)
    return path


@pytest.fixture(scope="session")
def proc_runs(proc_dataset: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """pretrain (``diag+proc``, the default) → dha (50%) → finetune on ``proc_dataset``."""
    return _pipeline(proc_dataset, tiny_config(stage="finetune"))
