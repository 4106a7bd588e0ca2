from __future__ import annotations

from pathlib import Path

import pytest

from app.contract.ddi_table import DdiPair, DdiTable, ddi_fingerprint, read_ddi_csv, write_ddi_csv
from app.contract.errors import InputFileError


def _write(tmp_path: Path, text: str | bytes, name: str = "ddi.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_pair_normalises_order_case_and_types() -> None:
    pair = DdiPair("n02b", "A01A", ("bleeding", " qt", "bleeding", ""), "high", "x")
    assert pair.key == ("A01A", "N02B")
    assert pair.types == ("bleeding", "qt")


@pytest.mark.parametrize(
    ("a", "b", "severity"),
    [("A01A", "A01A", "low"), ("A01", "N02B", "low"), ("A01AB01", "N02B", "low")],
)
def test_pair_rejects_bad_input(a: str, b: str, severity: str) -> None:
    with pytest.raises(ValueError):
        DdiPair(a, b, (), severity, "")


def test_pair_rejects_unknown_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        DdiPair("A01A", "N02B", (), "severe", "")


def test_table_merges_duplicates_and_sorts() -> None:
    table = DdiTable.from_pairs(
        [
            DdiPair("N02B", "C07A", ("qt",), "low", "s1"),
            DdiPair("A01A", "B01A"),
            DdiPair("C07A", "N02B", ("bleeding",), "high", "s2"),
        ],
        name="t",
    )
    assert [p.key for p in table.pairs] == [("A01A", "B01A"), ("C07A", "N02B")]
    merged = table.get("N02B", "C07A")
    assert merged == DdiPair("C07A", "N02B", ("bleeding", "qt"), "high", "s1;s2")
    assert table.get("A01A", "N02B") is None
    assert table.classes() == ("A01A", "B01A", "C07A", "N02B")


def test_fingerprint_depends_on_content_not_name_or_order() -> None:
    pairs = [DdiPair("A01A", "B01A"), DdiPair("C07A", "N02B")]
    one = DdiTable.from_pairs(pairs, name="one")
    two = DdiTable.from_pairs(reversed(pairs), name="two")
    assert one.fingerprint == two.fingerprint == ddi_fingerprint(one.pairs)
    assert len(one.fingerprint) == 64
    changed = DdiTable.from_pairs([*pairs[:1], DdiPair("C07A", "N02B", severity="low")], name="x")
    assert changed.fingerprint != one.fingerprint


def test_direct_construction_fills_and_checks_fingerprint() -> None:
    table = DdiTable("t", "", (DdiPair("B01A", "A01A"),))
    assert table.fingerprint == ddi_fingerprint(table.pairs)
    with pytest.raises(ValueError, match="fingerprint"):
        DdiTable("t", "0" * 64, (DdiPair("B01A", "A01A"),))


def test_read_minimal_and_full_columns(tmp_path: Path) -> None:
    minimal = read_ddi_csv(_write(tmp_path, "atc3_a,atc3_b\nN02B,A01A\n\nA01A,B01A\n"))
    assert minimal.name == "ddi"
    assert [p.key for p in minimal.pairs] == [("A01A", "B01A"), ("A01A", "N02B")]
    assert all(p.types == () and p.severity == "unknown" and p.source == "" for p in minimal.pairs)
    full = read_ddi_csv(
        _write(
            tmp_path,
            "atc3_a,atc3_b,types,severity,source\nA01A,B01A,qt;bleeding,High,TWOSIDES\n"
            "B01A,A01A,,,other\n",
            "full.csv",
        ),
        name="kb",
    )
    assert full.name == "kb"
    assert full.pairs == (DdiPair("A01A", "B01A", ("bleeding", "qt"), "high", "TWOSIDES;other"),)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    table = DdiTable.from_pairs(
        [DdiPair("A01A", "B01A", ("qt", "x y"), "moderate", "s"), DdiPair("C07A", "N02B")],
        name="t",
    )
    path = tmp_path / "out.csv"
    write_ddi_csv(table, path)
    back = read_ddi_csv(path, name="t")
    assert back == table
    assert back.fingerprint == table.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize(
    ("text", "row", "column", "message"),
    [
        ("", 0, None, "empty file"),
        ("atc3_a\nA01A\n", 0, "atc3_b", "missing required column"),
        ("atc3_a,atc3_b,extra\nA01A,B01A,1\n", 0, "extra", "unknown column"),
        ("atc3_a,atc3_b\n", 1, None, "no interaction rows"),
        ("atc3_a,atc3_b\nA01A,B01A\nA01A,XX\n", 2, "atc3_b", "not an ATC"),
        ("atc3_a,atc3_b\nA01AB01,B01A\n", 1, "atc3_a", "not an ATC level-3"),
        ("atc3_a,atc3_b\nA01A,a01a\n", 1, "atc3_b", "self-pair"),
        ("atc3_a,atc3_b,severity\nA01A,B01A,bad\n", 1, "severity", "severity"),
        ("atc3_a,atc3_b\nA01A,B01A,C01A\n", 1, None, "expected 2 fields"),
    ],
)
def test_read_errors_name_file_row_and_column(
    tmp_path: Path, text: str, row: int, column: str | None, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputFileError, match=message) as info:
        read_ddi_csv(path)
    assert (info.value.path, info.value.row, info.value.column) == (path, row, column)
    assert "ddi.csv" in str(info.value)


def test_read_rejects_undecodable_bytes_with_row(tmp_path: Path) -> None:
    path = _write(tmp_path, b"atc3_a,atc3_b\nA01A,B01A\nA01A,B\xff01A\n")
    with pytest.raises(InputFileError, match="UTF-8") as info:
        read_ddi_csv(path)
    assert info.value.row == 2


@pytest.mark.data
def test_real_twosides_table(shared_data: Path) -> None:
    table = read_ddi_csv(shared_data / "ddi" / "atc3_ddi_twosides.csv")
    assert table.name == "atc3_ddi_twosides"
    assert len(table) == 467
    assert len(table.classes()) == 95
    assert all(p.atc3_a < p.atc3_b and p.types == () for p in table.pairs)


def test_read_missing_file_and_malformed_csv(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        read_ddi_csv(tmp_path / "absent.csv")
    path = _write(tmp_path, "atc3_a,atc3_b\nA01A,B01A\nA01A," + "B" * 200_000 + "\n")
    with pytest.raises(InputFileError, match="malformed CSV") as info:
        read_ddi_csv(path)
    assert info.value.row == 2
