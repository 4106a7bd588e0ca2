"""Malformed exports fail with one error naming the file, row and column, and write nothing."""

import shutil
from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from training.data.ehr_io import read_table
from training.data.mimic3 import Mimic3Config, ingest_mimic3, read_mimic3
from training.data.synth import SynthConfig, write_mimic3_export


@pytest.fixture(scope="module")
def good_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    write_mimic3_export(SynthConfig(patients=15, seed=1, calibration_patients=30), out)
    return out


@pytest.fixture
def export(good_export: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good_export, tmp_path / "export"))


def _edit_line(path: Path, line_no: int, old: str, new: str) -> None:
    lines = path.read_bytes().split(b"\n")
    assert old.encode() in lines[line_no]
    lines[line_no] = lines[line_no].replace(old.encode(), new.encode() if new else b"", 1)
    path.write_bytes(b"\n".join(lines))


def _read(export: Path) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_mimic3(export, Mimic3Config())
    return info.value


def test_missing_column(export: Path) -> None:
    path = export / "DIAGNOSES_ICD.csv"
    _edit_line(path, 0, "ICD9_CODE", "CODE")
    err = _read(export)
    assert (err.path, err.row, err.column) == (path, 0, "ICD9_CODE")
    assert "DIAGNOSES_ICD.csv, row 0, column 'ICD9_CODE'" in str(err)


def test_bad_code(export: Path) -> None:
    path = export / "PROCEDURES_ICD.csv"
    line = path.read_text().splitlines()[3]
    _edit_line(path, 3, "," + line.rsplit(",", 1)[1], ",38-93")
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("PROCEDURES_ICD.csv", 3, "ICD9_CODE")
    assert "38-93" not in str(err)  # codes are never echoed


def test_wrong_encoding(export: Path) -> None:
    path = export / "PRESCRIPTIONS.csv"
    lines = path.read_bytes().split(b"\n")
    fields = lines[5].split(b",")
    fields[9] = b"\xe9PO"  # ROUTE in Latin-1
    lines[5] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("PRESCRIPTIONS.csv", 5, "ROUTE")


def test_empty_and_header_only_files(export: Path) -> None:
    path = export / "ADMISSIONS.csv"
    header = path.read_text().splitlines()[0]
    path.write_text("")
    assert "empty file" in str(_read(export))
    path.write_text(header + "\n")
    err = _read(export)
    assert err.row == 1 and "no data rows" in str(err)


def test_bad_id(export: Path) -> None:
    _edit_line(export / "DIAGNOSES_ICD.csv", 2, ",1000", ",x1000")
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("DIAGNOSES_ICD.csv", 2, "SUBJECT_ID")


def test_bad_admit_time(export: Path) -> None:
    lines = (export / "ADMISSIONS.csv").read_text().splitlines()
    _edit_line(export / "ADMISSIONS.csv", 4, lines[4].split(",")[3], "yesterday")
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("ADMISSIONS.csv", 4, "ADMITTIME")


def test_bad_ndc(export: Path) -> None:
    lines = (export / "PRESCRIPTIONS.csv").read_text().splitlines()
    _edit_line(export / "PRESCRIPTIONS.csv", 3, "," + lines[3].split(",")[8] + ",", ",12-34,")
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("PRESCRIPTIONS.csv", 3, "NDC")


def test_bad_atc_in_mapping(export: Path) -> None:
    lines = (export / "ndc2atc.csv").read_text().splitlines()
    _edit_line(export / "ndc2atc.csv", 2, lines[2].split(",")[1], "XYZ")
    err = _read(export)
    assert (err.path.name, err.row, err.column) == ("ndc2atc.csv", 2, "atc4")


def test_missing_mapping_is_named(export: Path) -> None:
    (export / "ndc2atc.csv").unlink()
    assert "ndc2atc.csv" in str(_read(export))


def test_partly_bad_export_writes_nothing(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    ingest_mimic3(export, out, Mimic3Config(min_visits=1))
    before = (out / "patients.jsonl").read_bytes()
    _edit_line(export / "PRESCRIPTIONS.csv", 7, ",MAIN,", ',MAIN,"unclosed')
    (export / "PROCEDURES_ICD.csv").write_text("")
    with pytest.raises(InputFileError):
        ingest_mimic3(export, out, Mimic3Config(min_visits=1), overwrite=True)
    assert (out / "patients.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "export"]


def test_ragged_row(export: Path) -> None:
    _edit_line(export / "DIAGNOSES_ICD.csv", 6, ",", ",,")
    err = _read(export)
    assert (err.path.name, err.row) == ("DIAGNOSES_ICD.csv", 6)


def test_ragged_row_located_by_the_csv_fallback(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("A,B\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(InputFileError) as info:
        read_table(path, ["A", "B"])
    assert info.value.row == 2 and "field count" in str(info.value)
