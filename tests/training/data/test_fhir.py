from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from tests.training.data.ehr_factory import random_patients, synthetic_cohort
from training.data.ehr_pipeline import KEEP_ALL, EhrFilterConfig
from training.data.fhir import FhirConfig, ingest_fhir, read_fhir
from training.data.writers.fhir import write_fhir_export

NO_TOP_N = EhrFilterConfig(top_n_diagnoses=None)


def test_round_trip_atc_coded(tmp_path: Path) -> None:
    patients = random_patients(25, seed=6)
    assert write_fhir_export(patients, tmp_path / "fhir") is None
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients
    assert result.extra["ignored"] == {"Patient": 25}


def test_round_trip_rxnorm_administrations_gzip(tmp_path: Path) -> None:
    patients = random_patients(10, seed=7)
    out = tmp_path / "fhir"
    mapping = write_fhir_export(patients, out, medication_coding="rxnorm", administrations=True)
    assert mapping is not None
    for path in out.glob("*.ndjson"):
        with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()
    manifest = ingest_fhir(out, tmp_path / "ds", FhirConfig(atc_mapping=mapping, filters=NO_TOP_N))
    assert (manifest.source_format, manifest.patients) == ("fhir", 10)
    assert manifest.visits == sum(len(p.visits) for p in patients)


def test_rxnorm_without_mapping_is_dropped_and_counted(tmp_path: Path) -> None:
    patients = random_patients(4, seed=8)
    write_fhir_export(patients, tmp_path / "fhir", medication_coding="rxnorm")
    n_meds = sum(len(v.medications) for p in patients for v in p.visits)
    with pytest.raises(InputFileError, match="no patient is left"):
        read_fhir(tmp_path / "fhir", FhirConfig())
    config = FhirConfig(filters=EhrFilterConfig(require_all_tables=False))
    result = read_fhir(tmp_path / "fhir", config)
    assert result.extra["unmapped"]["MedicationRequest"]["rows"] == n_meds


def test_resources_without_encounter_are_counted(tmp_path: Path) -> None:
    patients = random_patients(3, seed=9)
    write_fhir_export(patients, tmp_path / "fhir")
    with open(tmp_path / "fhir" / "Condition.ndjson", "a") as fh:
        fh.write(json.dumps({"resourceType": "Condition", "code": {"coding": []}}) + "\n")
        fh.write(json.dumps({"resourceType": "Observation"}) + "\n")
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients
    effect = next(f for f in result.filters if f.name == "Condition.with_encounter")
    assert effect.rows_before - effect.rows_after == 1
    assert result.extra["ignored"]["Observation"] == 1


def test_bad_json_and_bad_code_name_line_and_element(tmp_path: Path) -> None:
    write_fhir_export(random_patients(2, seed=10), tmp_path / "fhir")
    path = tmp_path / "fhir" / "Procedure.ndjson"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"code":"', '"code":"!!', 2)
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_fhir(tmp_path / "fhir", FhirConfig())
    assert (info.value.path, info.value.row, info.value.column) == (path, 2, "code.coding[1].code")
    lines[1] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_fhir(tmp_path / "fhir", FhirConfig())
    assert (info.value.path, info.value.row) == (path, 2)


def test_encounter_without_start_and_empty_export(tmp_path: Path) -> None:
    write_fhir_export(random_patients(2, seed=11), tmp_path / "fhir")
    path = tmp_path / "fhir" / "Encounter.ndjson"
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"start"', '"end"')
    path.write_text("".join(lines))
    with pytest.raises(InputFileError) as info:
        read_fhir(tmp_path / "fhir", FhirConfig())
    assert (info.value.row, info.value.column) == (1, "period.start")
    with pytest.raises(InputFileError, match="no NDJSON"):
        read_fhir(tmp_path, FhirConfig())


@pytest.mark.slow
def test_round_trip_at_scale_synthetic_cohort(tmp_path: Path) -> None:
    patients = synthetic_cohort(2000)
    mapping = write_fhir_export(patients, tmp_path / "fhir", medication_coding="rxnorm")
    result = read_fhir(tmp_path / "fhir", FhirConfig(atc_mapping=mapping, filters=KEEP_ALL))
    assert result.patients == patients


def test_bad_atc_code_and_medication_reference(tmp_path: Path) -> None:
    patients = random_patients(2, seed=16)
    write_fhir_export(patients, tmp_path / "fhir")
    path = tmp_path / "fhir" / "MedicationRequest.ndjson"
    enc = {"reference": f"Encounter/{patients[0].visits[0].visit_id}"}
    with open(path, "a") as fh:
        ref = {"resourceType": "MedicationRequest", "encounter": enc, "medicationReference": {}}
        fh.write(json.dumps(ref) + "\n")
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients
    assert result.extra["unmapped"]["MedicationRequest"]["top"] == [["(medicationReference)", 1]]
    bad = {"system": "http://www.whocc.no/atc", "code": "XX"}
    with open(path, "a") as fh:
        med = {"resourceType": "MedicationRequest", "encounter": enc,
               "medicationCodeableConcept": {"coding": [bad]}}  # fmt: skip
        fh.write(json.dumps(med) + "\n")
    n_lines = len(path.read_text().splitlines())
    with pytest.raises(InputFileError) as info:
        read_fhir(tmp_path / "fhir", FhirConfig())
    assert (info.value.row, info.value.column) == (
        n_lines, "medicationCodeableConcept.coding[0].code",
    )  # fmt: skip


def test_times_with_zones_and_repeated_encounters(tmp_path: Path) -> None:
    patients = random_patients(2, seed=17)
    write_fhir_export(patients, tmp_path / "fhir")
    path = tmp_path / "fhir" / "Encounter.ndjson"
    lines = path.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["period"]["start"] = first["period"]["start"].replace("Z", ".250-05:00")
    lines[0] = json.dumps(first) + "\n"
    path.write_text("".join([*lines, lines[1]]))
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients
    effect = next(f for f in result.filters if f.name == "visits.distinct_ids")
    assert (effect.rows_before, effect.rows_after) == (len(lines) + 1, len(lines))


def test_rows_move_to_frames_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("training.data.fhir.CHUNK_ROWS", 7)
    patients = random_patients(12, seed=18)
    write_fhir_export(patients, tmp_path / "fhir")
    assert read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N)).patients == patients
