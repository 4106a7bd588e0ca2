from __future__ import annotations

import pytest

from app.contract.codes import atc3, normalize_code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("401.9", "4019"),
        (" 250.00 ", "25000"),
        ("e11.65", "E1165"),
        ("3893", "3893"),
        ("38341003", "38341003"),
        ("439021000124105", "439021000124105"),
    ],  # SNOMED CT ids
)
def test_codes_lose_dots_and_spaces_and_are_upper_case(raw: str, code: str) -> None:
    assert normalize_code(raw) == code


@pytest.mark.parametrize("raw", ["...", "", "4019-1", "1234567890123456789"])
def test_what_no_icd_code_looks_like_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_code(raw)


@pytest.mark.parametrize(("raw", "cls"), [("N02BE01", "N02B"), ("c07a", "C07A"), ("B01AC", "B01A")])
def test_atc3_of_level_3_or_deeper(raw: str, cls: str) -> None:
    assert atc3(raw) == cls


@pytest.mark.parametrize("raw", ["N02", "N0", "X", "12AB"])
def test_atc3_refuses_codes_above_level_3(raw: str) -> None:
    with pytest.raises(ValueError):
        atc3(raw)
