from __future__ import annotations

import pytest

from app.inference import codes
from training.data import codes as training_codes


@pytest.mark.parametrize("raw", ["401.9", " 250.00 ", "e11.65", "V45.81", "3893"])
def test_normalize_code_agrees_with_training(raw: str) -> None:
    assert codes.normalize_code(raw) == training_codes.normalize_code(raw)


@pytest.mark.parametrize("raw", ["...", "", "4019-1", "123456789"])
def test_normalize_code_rejects_what_training_rejects(raw: str) -> None:
    assert codes.normalize_code(raw) is None
    with pytest.raises(ValueError):
        training_codes.normalize_code(raw)


@pytest.mark.parametrize("raw", ["N02BE01", "c07a", "B01AC", "N02"])
def test_atc3_agrees_with_training(raw: str) -> None:
    try:
        expected = training_codes.atc3(raw)
    except ValueError:
        expected = None
    assert codes.atc3(raw) == expected
