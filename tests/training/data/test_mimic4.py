from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from tests.training.data.ehr_factory import random_patients, synthetic_cohort
from training.data.dataset import Dataset
from training.data.ehr_pipeline import KEEP_ALL, EhrFilterConfig
from training.data.mimic4 import Mimic4Config, ingest_mimic4, read_mimic4
from training.data.writers.mimic4 import write_mimic4_export

NO_TOP_N = EhrFilterConfig(top_n_diagnoses=None)


def _export(tmp_path: Path, n: int = 20) -> tuple[Path, Path, list]:
    patients = random_patients(n, seed=1)
    mapping = write_mimic4_export(patients, tmp_path / "export")
    return tmp_path / "export", mapping, patients


def test_round_trip_keeps_patients_and_code_systems(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path)
    result = read_mimic4(export, Mimic4Config(atc_mapping=mapping, filters=NO_TOP_N))
    assert result.patients == patients
    systems = result.extra["code_systems"]["diagnoses_icd"]
    assert set(systems) == {"icd9cm", "icd10cm"}
    assert set(result.extra["code_systems"]["procedures_icd"]) == {"icd9proc", "icd10pcs"}


def test_ingest_writes_dataset_with_filters(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path)
    manifest = ingest_mimic4(export, tmp_path / "ds", Mimic4Config(atc_mapping=mapping))
    assert manifest.source_format == "mimic4"
    assert manifest.patients == len(patients)
    names = [f.name for f in manifest.filters]
    assert names == [
        "prescriptions.drop_placeholder_ndc",
        "prescriptions.map_ndc_to_atc3",
        "prescriptions.dedupe_per_visit",
        "diagnoses.with_known_visit",
        "procedures.with_known_visit",
        "medications.with_known_visit",
        "diagnoses.top_n",
        "visits.in_all_tables",
        "patients.min_visits",
    ]
    assert Dataset(tmp_path / "ds").load() == patients


def test_gzip_tables_and_hosp_dir_directly(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path, n=5)
    hosp = export / "hosp"
    for csv in hosp.glob("*.csv"):
        with open(csv, "rb") as src, gzip.open(csv.with_suffix(".csv.gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        csv.unlink()
    result = read_mimic4(hosp, Mimic4Config(atc_mapping=mapping, filters=NO_TOP_N))
    assert result.patients == patients


def test_unmapped_and_empty_ndcs_are_counted(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path, n=5)
    with open(export / "hosp" / "prescriptions.csv", "a") as fh:
        hid = patients[0].visits[0].visit_id
        fh.write(f"1,{hid},2110-01-10 00:30:00,x,0\n1,{hid},2110-01-10 00:30:00,y,12345678901\n")
    result = read_mimic4(export, Mimic4Config(atc_mapping=mapping, filters=NO_TOP_N))
    assert result.patients == patients
    assert result.filters[0].rows_before - result.filters[0].rows_after == 1
    unmapped = result.extra["unmapped"]["medications"]
    assert unmapped["rows"] == 1 and unmapped["top"] == [["12345678901", 1]]
    assert any("unmapped" in note for note in result.notes)


def test_top_n_and_min_visits(tmp_path: Path) -> None:
    export, mapping, _ = _export(tmp_path)
    config = Mimic4Config(
        atc_mapping=mapping, filters=EhrFilterConfig(top_n_diagnoses=2, min_visits=3)
    )
    result = read_mimic4(export, config)
    kept = {c for p in result.patients for v in p.visits for c in v.diagnoses}
    assert len(kept) <= 2
    assert all(len(p.visits) >= 3 for p in result.patients)
    top = next(f for f in result.filters if f.name == "diagnoses.top_n")
    assert top.rows_after < top.rows_before


def test_first_24h_drops_late_prescriptions(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path, n=3)
    with open(export / "hosp" / "prescriptions.csv", "a") as fh:
        visit = patients[0].visits[0]
        late = "2999-01-01 00:00:00"
        fh.write(f"1,{visit.visit_id},{late},x,{'00000' + '010114'}\n")
    config = Mimic4Config(atc_mapping=mapping, first_24h=True, filters=NO_TOP_N)
    result = read_mimic4(export, config)
    assert result.patients == patients
    effect = next(f for f in result.filters if f.name == "prescriptions.first_24h")
    assert effect.rows_before - effect.rows_after == 1


@pytest.mark.parametrize(
    ("table", "old", "new", "row", "column"),
    [
        ("diagnoses_icd", ",10\n", ",11\n", 1, "icd_version"),
        ("diagnoses_icd", "icd_code", "icd", 0, "icd_code"),
        ("admissions", "admittime", "admit", 0, "admittime"),
        ("prescriptions", ",00000", ",x0000", 1, "ndc"),
    ],
)
def test_bad_input_names_file_row_column(
    tmp_path: Path, table: str, old: str, new: str, row: int | None, column: str
) -> None:
    export, mapping, _ = _export(tmp_path, n=3)
    path = export / "hosp" / f"{table}.csv"
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if row is None:
        lines[0] = lines[0].replace(old, new)
    else:
        lines[row] = lines[row].replace(",9\n", new).replace(old, new)
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    assert info.value.path == path and info.value.column == column and info.value.row == row


def test_bad_code_missing_table_and_empty_file(tmp_path: Path) -> None:
    export, mapping, _ = _export(tmp_path, n=3)
    hosp = export / "hosp"
    lines = (hosp / "procedures_icd.csv").read_text().splitlines(keepends=True)
    parts = lines[2].split(",")
    parts[4] = "40-1"
    lines[2] = ",".join(parts)
    (hosp / "procedures_icd.csv").write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    assert (info.value.row, info.value.column) == (2, "icd_code")
    (hosp / "procedures_icd.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    (hosp / "procedures_icd.csv").unlink()
    with pytest.raises(InputFileError, match="required table is missing"):
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    with pytest.raises(InputFileError, match="mapping"):
        read_mimic4(export, Mimic4Config())


def test_everything_filtered_is_a_clear_error(tmp_path: Path) -> None:
    export, mapping, _ = _export(tmp_path, n=3)
    with pytest.raises(InputFileError, match="no patient is left.*min_visits"):
        read_mimic4(
            export, Mimic4Config(atc_mapping=mapping, filters=EhrFilterConfig(min_visits=50))
        )


def test_codes_of_unknown_admissions_are_counted(tmp_path: Path) -> None:
    export, mapping, patients = _export(tmp_path, n=3)
    with open(export / "hosp" / "diagnoses_icd.csv", "a") as fh:
        fh.write("1,424242,1,4019,9\n")
    result = read_mimic4(export, Mimic4Config(atc_mapping=mapping, filters=NO_TOP_N))
    assert result.patients == patients
    effect = next(f for f in result.filters if f.name == "diagnoses.with_known_visit")
    assert effect.rows_before - effect.rows_after == 1
    assert any("missing from the visits" in note for note in result.notes)


def test_wrong_encoding_and_header_only(tmp_path: Path) -> None:
    export, mapping, _ = _export(tmp_path, n=3)
    path = export / "hosp" / "prescriptions.csv"
    path.write_bytes(path.read_bytes() + b"1,2,\xff\xfe,x,1\n")
    n_rows = len(path.read_bytes().splitlines()) - 1
    with pytest.raises(InputFileError, match="not valid UTF-8") as info:
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    assert (info.value.path, info.value.row, info.value.column) == (path, n_rows, "starttime")
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    path.write_text("".join([*lines[:2], '1,"2,x,y,z\n', *lines[2:4]]))
    with pytest.raises(InputFileError, match="malformed quoting") as info:
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))
    assert info.value.row == 2
    path.write_text("subject_id,hadm_id,starttime,drug,ndc\n")
    with pytest.raises(InputFileError, match="no data rows"):
        read_mimic4(export, Mimic4Config(atc_mapping=mapping))


@pytest.mark.slow
def test_round_trip_at_scale_synthetic_cohort(tmp_path: Path) -> None:
    patients = synthetic_cohort(2000)
    mapping = write_mimic4_export(patients, tmp_path / "export")
    result = read_mimic4(tmp_path / "export", Mimic4Config(atc_mapping=mapping, filters=KEEP_ALL))
    assert result.patients == patients
