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
ORDER = {"status": "completed", "intent": "order"}  # a MedicationRequest that is a label


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
        ref = {"resourceType": "MedicationRequest", "encounter": enc, "medicationReference": {},
               **ORDER}  # fmt: skip
        fh.write(json.dumps(ref) + "\n")
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients
    assert result.extra["unmapped"]["MedicationRequest"]["top"] == [["(medicationReference)", 1]]
    bad = {"system": "http://www.whocc.no/atc", "code": "XX"}
    with open(path, "a") as fh:
        med = {"resourceType": "MedicationRequest", "encounter": enc, **ORDER,
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


def test_statuses_and_intents_are_honoured_and_counted(tmp_path: Path) -> None:
    patients = random_patients(3, seed=21)
    write_fhir_export(patients, tmp_path / "fhir")
    enc = {"reference": f"Encounter/{patients[0].visits[0].visit_id}"}
    icd = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "999.9"}]}
    atc = {"coding": [{"system": "http://www.whocc.no/atc", "code": "Z99Z"}]}
    left_out = {
        "Condition": [
            {"verificationStatus": {"coding": [{"code": "refuted"}]}},
            {"verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
            {"clinicalStatus": {"coding": [{"code": "entered-in-error"}]}},
        ],
        "Procedure": [{"status": "not-done"}, {"status": "entered-in-error"}],
        "MedicationRequest": [
            {"status": "active", "intent": "proposal"},  # e.g. MedRec's own proposal
            {"status": "active", "intent": "plan"},
            {"status": "cancelled", "intent": "order"},
            {"status": "draft", "intent": "order"},
        ],
    }
    for kind, variants in left_out.items():
        with open(tmp_path / "fhir" / f"{kind}.ndjson", "a") as fh:
            for extra in variants:
                body = (
                    {"medicationCodeableConcept": atc} if kind.startswith("Med") else {"code": icd}
                )
                fh.write(
                    json.dumps({"resourceType": kind, "encounter": enc, **body, **extra}) + "\n"
                )
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    assert result.patients == patients  # none of them reached a visit
    effects = {f.name: f for f in result.filters}
    for kind, variants in left_out.items():
        effect = effects[f"{kind}.status"]
        assert effect.rows_before - effect.rows_after == len(variants), kind


def test_medication_references_resolve_contained_and_by_id(tmp_path: Path) -> None:
    patients = random_patients(2, seed=22)
    write_fhir_export(patients, tmp_path / "fhir")
    visit = patients[0].visits[-1]
    enc = {"reference": f"Encounter/{visit.visit_id}"}
    order = {"status": "completed", "intent": "order", "encounter": enc}
    new = sorted({"A02B", "N02B"} - set(visit.medications))
    code = {"coding": [{"system": "http://www.whocc.no/atc", "code": new[0] + "A01"}]}
    by_id = {"resourceType": "MedicationRequest", **order,
             "medicationReference": {"reference": "Medication/med-1"}}  # fmt: skip
    contained = {"resourceType": "MedicationRequest", **order,
                 "contained": [{"resourceType": "Medication", "id": "c1",
                                "code": {"coding": [{"system": "http://www.whocc.no/atc",
                                                     "code": new[-1] + "A01"}]}}],
                 "medicationReference": {"reference": "#c1"}}  # fmt: skip
    # The Medication comes in a file read after the requests ("Z..." sorts last).
    with open(tmp_path / "fhir" / "MedicationRequest.ndjson", "a") as fh:
        fh.write(json.dumps(by_id) + "\n" + json.dumps(contained) + "\n")
    (tmp_path / "fhir" / "Z.Medication.ndjson").write_text(
        json.dumps({"resourceType": "Medication", "id": "med-1", "code": code}) + "\n"
    )
    result = read_fhir(tmp_path / "fhir", FhirConfig(filters=NO_TOP_N))
    got = next(v for p in result.patients for v in p.visits if v.visit_id == visit.visit_id)
    assert set(new) <= set(got.medications)
    assert result.extra["unmapped"]["MedicationRequest"]["rows"] == 0
