from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from tests.training.data.ehr_factory import random_patients, synthetic_cohort
from training.data.dataset import Dataset
from training.data.ehr_pipeline import KEEP_ALL, EhrFilterConfig
from training.data.synthea import SyntheaConfig, ingest_synthea, read_synthea
from training.data.writers.synthea import write_synthea_export

ONE_VISIT = EhrFilterConfig(min_visits=1)


def _effects(result):  # type: ignore[no-untyped-def]
    return {f.name: (f.rows_before, f.rows_after, f.patients_after) for f in result.filters}


@pytest.mark.data
def test_real_sample_default_filters(shared_data: Path) -> None:
    # Checked by hand with the csv module: 12 encounters appear in conditions, procedures and
    # medications (8 patients); 3 of those patients have >= 2 such visits (7 visits).
    result = read_synthea(shared_data / "synthea", SyntheaConfig())
    assert (len(result.patients), sum(len(p.visits) for p in result.patients)) == (3, 7)
    effects = _effects(result)
    assert effects["medications.dedupe_per_visit"] == (663, 662, None)
    assert effects["visits.in_all_tables"] == (604, 12, 8)
    assert effects["patients.min_visits"] == (12, 7, 3)
    assert sorted(len(p.visits) for p in result.patients) == [2, 2, 3]


@pytest.mark.data
def test_real_sample_native_codes_are_reported(shared_data: Path) -> None:
    config = SyntheaConfig(filters=EhrFilterConfig(min_visits=1, require_all_tables=False))
    result = read_synthea(shared_data / "synthea", config)
    assert (len(result.patients), sum(len(p.visits) for p in result.patients)) == (26, 581)
    codes = [c for p in result.patients for v in p.visits for c in v.diagnoses + v.procedures]
    assert {c.system for c in codes} == {"snomed"}
    meds = {m for p in result.patients for v in p.visits for m in v.medications}
    assert meds and all(m.startswith("rxnorm:") for m in meds)
    assert result.extra["medication_system"] == "rxnorm"
    assert any("NOT ATC3" in n for n in result.notes)


@pytest.mark.data
def test_real_sample_with_rxnorm_atc_mapping(shared_data: Path, tmp_path: Path) -> None:
    # ndc2atc.csv maps 7 of the sample's 32 RxCUIs: 256 of 663 rows; 9 all-table visits remain.
    config = SyntheaConfig(atc_mapping=shared_data / "mappings" / "ndc2atc.csv", filters=ONE_VISIT)
    manifest = ingest_synthea(shared_data / "synthea", tmp_path / "ds", config)
    assert (manifest.patients, manifest.visits) == (6, 9)
    assert manifest.extra["unmapped"]["medications"]["rows"] == 407
    assert manifest.extra["unmapped"]["medications"]["distinct"] == 25
    assert manifest.extra["medication_system"] == "atc3"
    meds = {m for p in Dataset(tmp_path / "ds").load() for v in p.visits for m in v.medications}
    assert meds and all(len(m) == 4 for m in meds)


@pytest.mark.data
def test_snomed_mapping_maps_some_and_keeps_the_rest(shared_data: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "snomed2icd.csv"
    mapping.write_text("snomed,icd10cm\n195662009,J02.9\n")  # acute viral pharyngitis
    config = SyntheaConfig(
        snomed_conditions=mapping,
        filters=EhrFilterConfig(min_visits=1, require_all_tables=False),
    )
    result = read_synthea(shared_data / "synthea", config)
    systems = {c.system for p in result.patients for v in p.visits for c in v.diagnoses}
    assert systems == {"icd10cm", "snomed"}
    assert any(c.code == "J029" for p in result.patients for v in p.visits for c in v.diagnoses)
    unmapped = result.extra["unmapped"]["conditions"]
    mapped = result.extra["code_systems"]["conditions"]["icd10cm"]
    assert unmapped["rows"] + mapped == 438


@pytest.mark.data
def test_bad_snomed_code_names_row_and_column(shared_data: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(shared_data / "synthea", export)
    path = export / "conditions.csv"
    lines = path.read_text().splitlines(keepends=True)
    parts = lines[3].split(",")
    parts[4] = "J02.9"
    lines[3] = ",".join(parts)
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_synthea(export, SyntheaConfig())
    assert (info.value.path, info.value.row, info.value.column) == (path, 3, "CODE")
    shutil.copy(shared_data / "synthea" / "conditions.csv", path)
    (export / "medications.csv").unlink()
    with pytest.raises(InputFileError, match="missing"):
        read_synthea(export, SyntheaConfig())


def test_round_trip_through_mapping_csvs(tmp_path: Path) -> None:
    patients = random_patients(20, seed=12)
    maps = write_synthea_export(patients, tmp_path / "synthea")
    config = SyntheaConfig(
        snomed_conditions=maps.conditions,
        snomed_procedures=maps.procedures,
        atc_mapping=maps.medications,
        filters=EhrFilterConfig(top_n_diagnoses=None),
    )
    result = read_synthea(tmp_path / "synthea", config)
    assert result.patients == patients
    assert all(v["rows"] == 0 for v in result.extra["unmapped"].values())


@pytest.mark.slow
def test_round_trip_at_scale_synthetic_cohort(tmp_path: Path) -> None:
    patients = synthetic_cohort(2000)
    maps = write_synthea_export(patients, tmp_path / "synthea")
    config = SyntheaConfig(
        snomed_conditions=maps.conditions,
        snomed_procedures=maps.procedures,
        atc_mapping=maps.medications,
        filters=KEEP_ALL,
    )
    assert read_synthea(tmp_path / "synthea", config).patients == patients
