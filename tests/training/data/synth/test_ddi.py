from pathlib import Path

import numpy as np

from app.contract.ddi_table import read_ddi_csv
from training.data.synth import SynthConfig, generate_patients, pooled_ddi_rate, synthetic_ddi_table
from training.data.synth.catalog import ATC3_CLASSES
from training.data.synth.ddi import interaction_types
from training.data.vocab import Vocabulary
from training.graphs import ddi_adjacency
from training.metrics import ddi_rate


def test_table_is_typed_ordered_and_deterministic() -> None:
    table = synthetic_ddi_table(SynthConfig(seed=0))
    assert table == synthetic_ddi_table.__wrapped__(SynthConfig(seed=0))  # bypass the cache
    assert 200 < len(table) < 1500
    assert all(p.atc3_a < p.atc3_b and p.types and p.source == "synthetic" for p in table.pairs)
    assert {p.severity for p in table.pairs} <= {"high", "moderate", "low", "unknown"}
    assert any("bleeding" in p.types for p in table.pairs)


def test_ground_truth_ddi_rate_is_mimic_like_on_a_fresh_cohort() -> None:
    config = SynthConfig(patients=1500, seed=21)
    table = synthetic_ddi_table(config)
    patients = list(generate_patients(config))
    rate = pooled_ddi_rate(patients, table)
    assert 0.05 <= rate <= 0.09
    # The same figure as the literature metric computes it from the DDI adjacency.
    vocab = Vocabulary(ATC3_CLASSES)
    predicted = [
        np.array([vocab.index(m) for m in v.medications]) for p in patients for v in p.visits
    ]
    assert ddi_rate(predicted, ddi_adjacency(table, vocab)) == np.float64(rate)


def test_interaction_rules() -> None:
    assert interaction_types("B01A", "M01A") == ("bleeding",)
    assert "qt_prolongation" in interaction_types("C01B", "N05A")
    assert interaction_types("A01A", "S01E") == ()


def test_ddi_csv_round_trips(tmp_path: Path) -> None:
    from training.data.synth import write_mimic3_export

    write_mimic3_export(SynthConfig(patients=3, seed=0, calibration_patients=200), tmp_path)
    lines = (tmp_path / "ddi.csv").read_text().splitlines()
    assert lines[0] == "atc3_a,atc3_b,types,severity,source"
    table = read_ddi_csv(tmp_path / "ddi.csv")
    assert table.pairs == synthetic_ddi_table(SynthConfig(seed=0, calibration_patients=200)).pairs
