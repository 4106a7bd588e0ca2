from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from app.contract.errors import InputFileError
from tests.training.data.ehr_factory import random_patients, synthetic_cohort
from training.data.ehr_pipeline import KEEP_ALL, EhrFilterConfig
from training.data.omop import OmopConfig, ingest_omop, read_omop
from training.data.records import Code
from training.data.writers.omop import write_omop_export

NO_TOP_N = EhrFilterConfig(top_n_diagnoses=None)


def test_round_trip_through_the_vocabulary(tmp_path: Path) -> None:
    patients = random_patients(30, seed=2)
    write_omop_export(patients, tmp_path / "cdm")
    result = read_omop(tmp_path / "cdm", OmopConfig(filters=NO_TOP_N))
    assert result.patients == patients
    assert set(result.extra["code_systems"]["condition_occurrence"]) == {"icd9cm", "icd10cm"}
    assert result.extra["vocabulary"] is True
    assert all(v["rows"] == 0 for v in result.extra.get("unmapped", {}).values())


def test_round_trip_parquet(tmp_path: Path) -> None:
    patients = random_patients(8, seed=3)
    write_omop_export(patients, tmp_path / "cdm", parquet=True)
    assert not list((tmp_path / "cdm").glob("*occurrence.csv"))
    manifest = ingest_omop(tmp_path / "cdm", tmp_path / "ds", OmopConfig(filters=NO_TOP_N))
    assert (manifest.source_format, manifest.patients) == ("omop", 8)


def test_source_values_and_mapping_csv_without_vocabulary(tmp_path: Path) -> None:
    patients = random_patients(10, seed=4, mixed=False)  # source values carry one system each
    mapping = write_omop_export(patients, tmp_path / "cdm", vocabulary=False)
    result = read_omop(tmp_path / "cdm", OmopConfig(atc_mapping=mapping, filters=NO_TOP_N))
    assert result.patients == patients
    assert result.extra["vocabulary"] is False


def test_concepts_missing_from_vocabulary_are_counted(tmp_path: Path) -> None:
    patients = random_patients(6, seed=5)
    write_omop_export(patients, tmp_path / "cdm")
    path = tmp_path / "cdm" / "drug_exposure.csv"
    with open(path, "a") as fh:
        fh.write(f"999,1,4242,2110-01-01,{patients[0].visits[0].visit_id},x\n")
        fh.write("1000,1,4242,2110-01-01,,x\n")
    result = read_omop(tmp_path / "cdm", OmopConfig(filters=NO_TOP_N))
    assert result.patients == patients
    assert result.extra["unmapped"]["drug_exposure"]["top"] == [["4242", 1]]
    effect = next(f for f in result.filters if f.name == "drug_exposure.with_visit")
    assert effect.rows_before - effect.rows_after == 1


def test_no_drug_mapping_is_refused(tmp_path: Path) -> None:
    write_omop_export(random_patients(3), tmp_path / "cdm", vocabulary=False)
    with pytest.raises(InputFileError, match="ATC mapping"):
        read_omop(tmp_path / "cdm", OmopConfig())


def test_bad_source_value_names_row_and_column(tmp_path: Path) -> None:
    mapping = write_omop_export(random_patients(3, mixed=False), tmp_path / "cdm", vocabulary=False)
    path = tmp_path / "cdm" / "condition_occurrence.csv"
    lines = path.read_text().splitlines(keepends=True)
    parts = lines[2].split(",")
    parts[5] = "not-icd"
    lines[2] = ",".join(parts)
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_omop(tmp_path / "cdm", OmopConfig(atc_mapping=mapping))
    assert (info.value.path, info.value.row, info.value.column) == (
        path, 2, "condition_source_value",
    )  # fmt: skip


def test_missing_column_and_table(tmp_path: Path) -> None:
    write_omop_export(random_patients(3), tmp_path / "cdm")
    path = tmp_path / "cdm" / "visit_occurrence.csv"
    path.write_text(path.read_text().replace("visit_start_date,", "start,", 1))
    with pytest.raises(InputFileError) as info:
        read_omop(tmp_path / "cdm", OmopConfig())
    assert (info.value.path, info.value.column) == (path, "visit_start_date")
    path.unlink()
    with pytest.raises(InputFileError, match="visit_occurrence.*missing"):
        read_omop(tmp_path / "cdm", OmopConfig())


def test_athena_style_tab_separated_upper_case_vocabulary(tmp_path: Path) -> None:
    patients = random_patients(5, seed=14)
    write_omop_export(patients, tmp_path / "cdm")
    for name in ("concept", "concept_relationship"):
        path = tmp_path / "cdm" / f"{name}.csv"
        lines = path.read_text().splitlines()
        text = "\n".join([lines[0].upper(), *lines[1:]]).replace(",", "\t") + "\n"
        path.unlink()
        (tmp_path / "cdm" / f"{name.upper()}.csv").write_bytes(("\ufeff" + text).encode())
    result = read_omop(tmp_path / "cdm", OmopConfig(filters=NO_TOP_N))
    assert result.patients == patients


def test_concept_ancestor_route_and_native_standard_concepts(tmp_path: Path) -> None:
    patients = random_patients(4, seed=15)
    write_omop_export(patients, tmp_path / "cdm")
    cdm = tmp_path / "cdm"
    concepts = pl.read_csv(cdm / "concept.csv", infer_schema=False)
    ids = dict(zip(concepts["concept_code"], concepts["concept_id"], strict=True))
    atcs = sorted({m for p in patients for v in p.visits for m in v.medications})
    (cdm / "concept_relationship.csv").unlink()
    rows = [f"{ids[a + 'A']},{ids['drug-' + a]}" for a in atcs]
    (cdm / "concept_ancestor.csv").write_text(
        "ancestor_concept_id,descendant_concept_id\n" + "\n".join(rows) + "\n"
    )
    with open(cdm / "concept.csv", "a") as fh:
        fh.write("77,Pharyngitis,SNOMED,Clinical Finding,363746003\n")
    visit = patients[0].visits[0]
    with open(cdm / "condition_occurrence.csv", "a") as fh:
        fh.write(f"9999,{patients[0].patient_id},77,2110-01-01,{visit.visit_id},J02.9,0\n")
    result = read_omop(cdm, OmopConfig(filters=NO_TOP_N))
    first = result.patients[0].visits[0]
    assert first.diagnoses[-1] == Code("snomed", "363746003")
    assert result.patients[1:] == patients[1:]
    assert [v.medications for p in result.patients for v in p.visits] == [
        v.medications for p in patients for v in p.visits
    ]
    assert result.extra["unmapped"]["condition_occurrence (not ICD)"]["rows"] == 1


@pytest.mark.slow
def test_round_trip_at_scale_synthetic_cohort(tmp_path: Path) -> None:
    patients = synthetic_cohort(2000)
    write_omop_export(patients, tmp_path / "cdm", parquet=True)
    result = read_omop(tmp_path / "cdm", OmopConfig(filters=KEEP_ALL))
    assert result.patients == patients
