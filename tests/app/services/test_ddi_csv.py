from __future__ import annotations

from pathlib import Path

import pytest

from app.contract.ddi_table import DdiPair, DdiTable, read_ddi_csv, write_ddi_csv
from app.errors import DdiFileError
from app.services.ddi_csv import parse_ddi_csv


def test_rows_are_ordered_normalised_and_merged() -> None:
    text = "atc3_b,atc3_a,types,severity\nn02b,B01A,bleeding,moderate\nB01A,N02B,gi;x,high\n"
    [row] = parse_ddi_csv(text, default_source="kb")
    assert (row.atc3_a, row.atc3_b, row.source) == ("B01A", "N02B", "kb")
    assert row.types == ("bleeding", "gi", "x") and row.severity == "high"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("atc3_a\nB01A\n", "row 0"),
        ("atc3_a,atc3_b,color\nB01A,N02B,red\n", "row 0"),
        ("atc3_a,atc3_b\nB01A,N02B\nB01A,SECRET1\n", "row 2, column 'atc3_b'"),
        ("atc3_a,atc3_b\nB01A,B01A\n", "row 1, column 'atc3_b'"),
        ("atc3_a,atc3_b,severity\nB01A,N02B,deadly\n", "row 1, column 'severity'"),
        ("atc3_a,atc3_b\nB01A,N02B,extra\n", "row 1"),
        ("atc3_a,atc3_b\nB01A,N0\x002B\n", "row 1, column 'atc3_b'"),
    ],
)
def test_errors_name_row_and_column_not_the_value(text: str, where: str) -> None:
    with pytest.raises(DdiFileError) as info:
        parse_ddi_csv(text, default_source="kb")
    assert where in info.value.detail
    assert "SECRET1" not in info.value.detail and "deadly" not in info.value.detail


def test_reads_what_training_writes(tmp_path: Path) -> None:
    pairs = (DdiPair("N02B", "B01A", ("bleeding",), "high", "TWOSIDES"), DdiPair("C07A", "C09A"))
    write_ddi_csv(DdiTable.from_pairs(pairs, name="t"), tmp_path / "t.csv")
    rows = parse_ddi_csv((tmp_path / "t.csv").read_text(), default_source="file")
    assert {(r.atc3_a, r.atc3_b, r.types, r.severity) for r in rows} == {
        (p.atc3_a, p.atc3_b, p.types, p.severity) for p in read_ddi_csv(tmp_path / "t.csv").pairs
    }


def test_the_shared_twosides_table_loads(shared_data: Path) -> None:
    rows = parse_ddi_csv(
        (shared_data / "ddi" / "atc3_ddi_twosides.csv").read_text(), default_source="twosides"
    )
    assert len(rows) == 467
