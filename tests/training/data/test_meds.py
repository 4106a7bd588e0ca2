from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl
import pytest

from app.contract.errors import InputFileError
from tests.training.data.ehr_factory import random_patients, synthetic_cohort
from training.data.dataset import Dataset
from training.data.ehr_pipeline import KEEP_ALL, EhrFilterConfig
from training.data.ingest import ingest
from training.data.meds import MedsConfig, read_meds
from training.data.records import Patient
from training.data.writers.meds import write_meds_export

NO_TOP_N = EhrFilterConfig(top_n_diagnoses=None)


def _export(
    tmp_path: Path, n: int = 20, medication_codes: Literal["atc", "ndc"] = "atc"
) -> tuple[Path, list[Patient]]:
    patients = random_patients(n, seed=2)
    write_meds_export(patients, tmp_path / "meds", shard_size=7, medication_codes=medication_codes)
    return tmp_path / "meds", patients


def _rewrite(shard: Path, row: int, **values: object) -> None:
    """Set the columns of the 1-based ``row`` of ``shard`` to ``values``."""
    frame = pl.read_parquet(shard)
    index = pl.int_range(1, frame.height + 1)
    frame = frame.with_columns(
        pl.when(index == row).then(pl.lit(v)).otherwise(pl.col(c)).cast(frame.schema[c]).alias(c)
        for c, v in values.items()
    )
    frame.write_parquet(shard)


def test_round_trip_keeps_patients_visits_and_code_order(tmp_path: Path) -> None:
    root, patients = _export(tmp_path)
    assert len(list((root / "data").glob("**/*.parquet"))) > 3  # sharded by split and size
    result = read_meds(root, MedsConfig(filters=NO_TOP_N))
    assert list(result.patients) == patients
    assert set(result.extra["code_systems"]["diagnoses"]) == {"icd9cm", "icd10cm"}
    assert result.extra["skipped_codes"] == {
        "LAB": sum(len(p.visits) for p in patients),
        "MEDS_BIRTH": len(patients),
    }
    assert result.extra["meds"]["meds_version"]
    assert sum(result.extra["meds"]["subject_splits"].values()) == len(patients)


def test_ndc_codes_are_mapped_and_unmapped_ones_counted(tmp_path: Path) -> None:
    root, patients = _export(tmp_path, n=5, medication_codes="ndc")
    mapping = root / "ndc2atc.csv"
    with pytest.raises(InputFileError, match="need an NDC"):
        read_meds(root, MedsConfig(filters=NO_TOP_N))
    shard = sorted((root / "data").glob("**/*.parquet"))[0]
    frame = pl.read_parquet(shard)
    extra = frame.filter(pl.col("code").str.starts_with("MEDICATION")).head(1)
    pl.concat([frame, extra.with_columns(code=pl.lit("MEDICATION//NDC//12345678901"))]).sort(
        "subject_id", "time", maintain_order=True
    ).write_parquet(shard)
    result = read_meds(root, MedsConfig(atc_mapping=mapping, filters=NO_TOP_N))
    assert list(result.patients) == patients
    assert result.extra["unmapped"]["medications"]["top"] == [["12345678901", 1]]


def test_visits_are_admissions_and_stray_events_are_counted(tmp_path: Path) -> None:
    root, patients = _export(tmp_path, n=3)
    shard = sorted((root / "data").glob("**/*.parquet"))[0]
    frame = pl.read_parquet(shard)
    subject = frame["subject_id"][0]
    stray = pl.DataFrame(
        {
            "subject_id": [subject, subject],
            "time": [datetime(1990, 1, 1), datetime(2999, 1, 1)],  # before and after every visit
            "code": ["DIAGNOSIS//ICD//9//401.9", "MEDICATION//ATC//N02BE01"],
            "numeric_value": [None, None],
            "hadm_id": [None, None],
        },
        schema=frame.schema,
    )
    pl.concat([frame, stray]).sort("subject_id", "time").write_parquet(shard)
    result = read_meds(root, MedsConfig(filters=NO_TOP_N))
    assert list(result.patients) == patients
    effect = next(f for f in result.filters if f.name == "events.in_admission")
    assert effect.rows_before - effect.rows_after == 2


def test_ingest_dispatches_meds_with_the_data_report(tmp_path: Path) -> None:
    root, patients = _export(tmp_path)
    manifest = ingest("meds", root, tmp_path / "ds", {"top_diagnoses": None})
    assert manifest.source_format == "meds"
    assert [f.name for f in manifest.filters][:2] == [
        "events.in_admission",
        "medications.dedupe_per_visit",
    ]
    assert manifest.filters[-1].name == "patients.min_visits"
    assert Dataset(tmp_path / "ds").load() == patients


@pytest.mark.parametrize(
    ("values", "column", "match"),
    [
        ({"code": "DIAGNOSIS//ICD//9//40-1"}, "code", "ICD"),
        ({"code": "MEDICATION//ATC//N2"}, "code", "ATC"),
        ({"time": None}, "time", "needs a time"),
        ({"subject_id": None}, "subject_id", "empty"),
    ],
)
def test_bad_events_name_shard_row_column(
    tmp_path: Path, values: dict[str, object], column: str, match: str
) -> None:
    root, _ = _export(tmp_path, n=3)
    shard = sorted((root / "data").glob("**/*.parquet"))[-1]
    codes = pl.read_parquet(shard)["code"]
    kind = "MEDICATION" if "ATC" in match else "DIAGNOSIS"
    row = next(i for i, c in enumerate(codes, start=1) if c.startswith(kind))
    _rewrite(shard, row, **values)
    with pytest.raises(InputFileError, match=match) as info:
        read_meds(root, MedsConfig())
    assert (info.value.path, info.value.row, info.value.column) == (shard, row, column)


def test_bad_layout_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no MEDS shards"):
        read_meds(tmp_path, MedsConfig())
    root, _ = _export(tmp_path, n=3)
    shard = sorted((root / "data").glob("**/*.parquet"))[0]
    pl.read_parquet(shard).drop("numeric_value").write_parquet(shard)
    with pytest.raises(InputFileError) as info:
        read_meds(root, MedsConfig())
    assert (info.value.path, info.value.row, info.value.column) == (shard, 0, "numeric_value")
    shard.write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match="cannot be read as Parquet"):
        read_meds(root, MedsConfig())


@pytest.mark.slow
def test_round_trip_at_scale_synthetic_cohort(tmp_path: Path) -> None:
    patients = synthetic_cohort(2000)
    write_meds_export(patients, tmp_path / "meds")
    assert list(read_meds(tmp_path / "meds", MedsConfig(filters=KEEP_ALL)).patients) == patients
