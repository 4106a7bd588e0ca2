from pathlib import Path

import numpy as np
import pytest

from app.contract.errors import InputFileError
from training.genn.pairs import DEFAULT_TYPE, read_typed_pairs


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    return path


def test_reads_typed_pairs_canonical_order(tmp_path: Path) -> None:
    path = _write(tmp_path, "drug_a,drug_b,types\nB01,A02,x;y\nA02,C03,y\n")
    pairs = read_typed_pairs(path)
    assert pairs.drugs == ("A02", "B01", "C03")
    assert pairs.types == ("x", "y")
    np.testing.assert_array_equal(pairs.pairs, [[0, 1], [0, 2]])
    np.testing.assert_array_equal(pairs.labels, [[1, 1], [0, 1]])
    assert len(pairs.fingerprint) == 64


def test_atc3_table_without_types_gets_single_type(tmp_path: Path) -> None:
    pairs = read_typed_pairs(_write(tmp_path, "atc3_a,atc3_b\nA01,B01\nB01,C01\n"))
    assert pairs.types == (DEFAULT_TYPE,)
    assert pairs.labels.sum() == 2


def test_numeric_ids_sort_numerically(tmp_path: Path) -> None:
    pairs = read_typed_pairs(_write(tmp_path, "edge_id,drug_a,drug_b,types\n0,2,10,1;0\n"))
    assert pairs.drugs == ("2", "10")
    assert pairs.types == ("0", "1")


@pytest.mark.parametrize(
    ("text", "row", "column"),
    [
        ("a,b\nx,y\n", 0, "drug_a"),
        ("drug_a,drug_b,types\nA,,x\n", 1, "drug_b"),
        ("drug_a,drug_b,types\nA,B,x\nC,C,x\n", 2, "drug_b"),
        ("drug_a,drug_b,types\nA,B,x\nB,A,y\n", 2, "drug_b"),
        ("drug_a,drug_b,types\nA,B,x;;y\n", 1, "types"),
        ("drug_a,drug_b,types\nA,B\n", 1, None),
    ],
)
def test_bad_rows_name_file_row_column(tmp_path: Path, text: str, row: int, column: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_typed_pairs(path)
    assert info.value.row == row
    assert info.value.column == column
    assert str(path) in str(info.value)


def test_empty_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no pairs"):
        read_typed_pairs(_write(tmp_path, "drug_a,drug_b,types\n"))


def test_ddi_table_uses_the_table_fingerprint(tmp_path: Path) -> None:
    from app.contract.ddi_table import read_ddi_csv
    from training.genn.pairs import read_pairs

    path = _write(
        tmp_path,
        "atc3_a,atc3_b,types,severity,source\nN02B,B01A,bleeding,high,x\nC09A,B01A,,moderate,x\n",
    )
    pairs = read_pairs(path)
    assert pairs.fingerprint == read_ddi_csv(path).fingerprint
    assert pairs.drugs == ("B01A", "C09A", "N02B")
    assert pairs.types == ("bleeding", DEFAULT_TYPE)
    with pytest.raises(InputFileError):
        read_pairs(_write(tmp_path, "atc3_a,atc3_b\nnot-atc,B01A\n"))
