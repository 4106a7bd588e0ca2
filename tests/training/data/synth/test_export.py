import csv
from pathlib import Path

import pytest

from training.data.mimic3 import Mimic3Config, read_mimic3
from training.data.synth import SynthConfig, write_mimic3_export
from training.data.synth.export import HEADERS


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_mimic3_export(SynthConfig(patients=400, seed=3, calibration_patients=200), out)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_files_and_upper_case_headers(export: Path) -> None:
    for name, header in HEADERS.items():
        with open(export / name) as fh:
            assert fh.readline().strip().split(",") == header
        assert header == [h.upper() for h in header]
    assert {p.name for p in export.iterdir()} == {
        *HEADERS,
        "ndc2atc.csv",
        "ndc2rxcui.csv",
        "ddi.csv",
    }


def test_prescriptions_hold_placeholder_and_unmapped_ndcs(export: Path) -> None:
    rows = _rows(export / "PRESCRIPTIONS.csv")
    ndcs = [r["NDC"] for r in rows]
    assert 0 < ndcs.count("0") < 0.1 * len(rows)
    real = [n for n in ndcs if n not in ("0", "")]
    assert all(len(n) == 11 and n.isdigit() for n in real)
    mapped = {r["ndc"] for r in _rows(export / "ndc2atc.csv") if r["atc4"]}
    unmapped = sum(n not in mapped for n in real)
    assert 0 < unmapped < 0.05 * len(real)


def test_mapping_files_have_the_shared_columns(export: Path, shared_data: Path) -> None:
    for name in ("ndc2atc.csv", "ndc2rxcui.csv"):
        with open(shared_data / "mappings" / name) as fh:
            shared_header = fh.readline().strip()
        with open(export / name) as fh:
            assert fh.readline().strip() == shared_header


def test_first_day_filter_bites(export: Path) -> None:
    result = read_mimic3(export, Mimic3Config(first_24h=True, min_visits=1))
    effect = next(f for f in result.filters if f.name == "prescriptions.first_24h")
    assert 0.7 * effect.rows_before < effect.rows_after < effect.rows_before
