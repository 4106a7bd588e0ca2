from pathlib import Path

import pytest

from app.contract.errors import InputFileError
from training.data.dataset import Dataset
from training.data.mimic3 import Mimic3Config, ingest_mimic3, read_mimic3
from training.data.synth import SynthConfig, generate_patients, write_mimic3_export


def _demo_config(shared: Path, **kw: object) -> Mimic3Config:
    maps = shared / "mappings"
    return Mimic3Config(atc_mapping=maps / "ndc2atc.csv", ndc2rxcui=maps / "ndc2rxcui.csv", **kw)  # type: ignore[arg-type]


@pytest.mark.data
def test_demo_counts_match_a_hand_count(shared_data: Path) -> None:
    # Counted once by hand with csv.DictReader (see the data helper's report): 10398 rows, 1478
    # placeholders, 8920 real NDCs of which 7263 rows map (81.4%, 252 NDCs unmapped), 107 visits
    # in all tables, 11 patients with >= 2 visits (36 visits, 118 ATC3 classes).
    result = read_mimic3(shared_data / "mimic3-demo", _demo_config(shared_data))
    effects = {f.name: f for f in result.filters}
    drop = effects["prescriptions.drop_placeholder_ndc"]
    assert (drop.rows_before, drop.rows_after) == (10398, 8920)
    mapped = effects["prescriptions.map_ndc_to_atc3"]
    assert (mapped.rows_before, mapped.rows_after) == (8920, 7263)
    assert result.extra["unmapped_ndcs"] == 252
    assert effects["prescriptions.dedupe_per_visit"].rows_after == 3988
    assert effects["diagnoses.top_n"].rows_after == 1761
    assert effects["procedures.dedupe_per_visit"].rows_after == 486
    visits = effects["visits.in_all_tables"]
    assert (visits.rows_after, visits.patients_after) == (107, 82)
    patients = effects["patients.min_visits"]
    assert (patients.rows_after, patients.patients_after) == (36, 11)
    assert len(result.patients) == 11
    assert sum(len(p.visits) for p in result.patients) == 36
    assert len({m for p in result.patients for v in p.visits for m in v.medications}) == 118
    assert any("252 distinct NDCs" in n for n in result.notes)


@pytest.mark.data
def test_demo_options_change_the_counts(shared_data: Path) -> None:
    demo = shared_data / "mimic3-demo"
    first_day = read_mimic3(demo, _demo_config(shared_data, first_24h=True))
    effect = next(f for f in first_day.filters if f.name == "prescriptions.first_24h")
    assert (effect.rows_before, effect.rows_after) == (8920, 3686)
    singles = read_mimic3(demo, _demo_config(shared_data, min_visits=1))
    assert len(singles.patients) == 82
    top50 = read_mimic3(demo, _demo_config(shared_data, min_visits=1, top_diagnoses=50))
    top = next(f for f in top50.filters if f.name == "diagnoses.top_n")
    assert top.rows_before == 1761 and top.rows_after < 1761
    assert len({c for p in top50.patients for v in p.visits for c in v.diagnoses}) == 50


@pytest.mark.data
def test_demo_visits_are_in_time_order(shared_data: Path) -> None:
    result = read_mimic3(shared_data / "mimic3-demo", _demo_config(shared_data))
    for patient in result.patients:
        times = [v.time for v in patient.visits]
        assert times == sorted(times)  # type: ignore[type-var]


def test_synthetic_round_trip(tmp_path: Path) -> None:
    config = SynthConfig(patients=120, seed=4, calibration_patients=100)
    write_mimic3_export(config, tmp_path / "export")
    truth = {p.patient_id: p for p in generate_patients(config)}
    manifest = ingest_mimic3(
        tmp_path / "export", tmp_path / "ds", Mimic3Config(min_visits=1, top_diagnoses=None)
    )
    patients = Dataset(tmp_path / "ds").load()
    assert manifest.patients == len(patients) > 100
    assert manifest.extra["unmapped_ndc_rows"] > 0
    same_meds = 0
    for patient in patients:
        source = {v.visit_id: v for v in truth[patient.patient_id].visits}
        for visit in patient.visits:
            expected = source[visit.visit_id]
            assert visit.diagnoses == expected.diagnoses
            assert visit.procedures == expected.procedures
            assert set(visit.medications) <= set(expected.medications)
            same_meds += visit.medications == expected.medications
    assert same_meds > 0.6 * manifest.visits


def test_two_digit_years_keep_their_order() -> None:
    import polars as pl

    from training.data.mimic3 import _parse_time

    times = ["10/23/64 21:09", "1/2/99 10:00", "2101-10-20 19:08:00", "2101-10-20"]
    parsed = pl.DataFrame({"t": times}).select(_parse_time("t"))["t"].to_list()
    assert [t.year for t in parsed] == [2064, 2099, 2101, 2101]


@pytest.mark.parametrize("first_24h", [False, True])
def test_passes_by_subject_range_make_the_single_pass_dataset(
    tmp_path: Path, first_24h: bool
) -> None:
    export = tmp_path / "export"
    write_mimic3_export(SynthConfig(patients=300, seed=4), export)
    with open(export / "DIAGNOSES_ICD.csv", "a") as fh:
        fh.write("999999,1,424242,1,4019\n")  # an unknown admission: a count and a note
    base = {"top_diagnoses": 60, "first_24h": first_24h}
    one = ingest_mimic3(export, tmp_path / "one", Mimic3Config(**base))  # type: ignore[arg-type]
    many = ingest_mimic3(export, tmp_path / "many", Mimic3Config(**base, chunk_patients=70))  # type: ignore[arg-type]
    assert many.fingerprint == one.fingerprint and many.patients == one.patients
    assert many.filters == one.filters
    assert many.notes == one.notes and any("missing from the visits" in n for n in many.notes)
    config = many.extra.pop("config")
    assert config["chunk_patients"] == 70
    assert {**many.extra, "config": one.extra["config"]} == one.extra


def test_a_bad_id_is_reported_by_the_passes_too(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_mimic3_export(SynthConfig(patients=50, seed=4), export)
    with open(export / "PROCEDURES_ICD.csv", "a") as fh:
        fh.write("1,x1,1,1,3893\n")
    rows = len((export / "PROCEDURES_ICD.csv").read_text().splitlines()) - 1
    with pytest.raises(InputFileError) as info:
        read_mimic3(export, Mimic3Config(chunk_patients=20))
    assert (info.value.row, info.value.column) == (rows, "SUBJECT_ID")
