from pathlib import Path

from training.data.synth import SynthConfig, generate_patients, synthetic_ddi_rows
from training.data.synth.ddi import interaction_types, pooled_ddi_rate, write_ddi_rows_csv


def test_table_is_typed_ordered_and_deterministic() -> None:
    rows = synthetic_ddi_rows(SynthConfig(seed=0))
    assert rows == synthetic_ddi_rows(SynthConfig(seed=0))
    assert 200 < len(rows) < 1500
    assert all(r.atc3_a < r.atc3_b and r.types for r in rows)
    assert {r.severity for r in rows} <= {"high", "moderate", "low", "unknown"}
    assert any("bleeding" in r.types for r in rows)


def test_ground_truth_ddi_rate_is_mimic_like_on_a_fresh_cohort() -> None:
    config = SynthConfig(patients=1500, seed=21)
    rate = pooled_ddi_rate(generate_patients(config), synthetic_ddi_rows(config))
    assert 0.05 <= rate <= 0.09


def test_interaction_rules() -> None:
    assert interaction_types("B01A", "M01A") == ("bleeding",)
    assert "qt_prolongation" in interaction_types("C01B", "N05A")
    assert interaction_types("A01A", "S01E") == ()


def test_csv_has_ddi_columns(tmp_path: Path) -> None:
    rows = synthetic_ddi_rows(SynthConfig(seed=0, calibration_patients=200))
    write_ddi_rows_csv(rows, tmp_path / "ddi.csv")
    lines = (tmp_path / "ddi.csv").read_text().splitlines()
    assert lines[0] == "atc3_a,atc3_b,types,severity,source"
    assert len(lines) == len(rows) + 1
    assert lines[1].split(",")[4] == "synthetic"
