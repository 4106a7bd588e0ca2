from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.gamenet.conftest import random_patients
from training.data.dataset import write_dataset
from training.data.splits import SplitConfig
from training.gamenet.data import prepare_data


def test_refuses_a_dataset_whose_medications_are_not_atc3(tmp_path: Path) -> None:
    write_dataset(
        random_patients(20),
        tmp_path / "rx",
        source_format="synthea",
        extra={"medication_system": "rxnorm"},
    )
    with pytest.raises(ValueError, match="not ATC3 classes"):
        prepare_data(tmp_path / "rx", SplitConfig(method="literature"))
