import json
from pathlib import Path

import pytest

from app.contract.ddi_table import read_ddi_csv
from app.contract.errors import InputFileError
from training.data.dataset import Dataset
from training.data.literature import ingest_literature, read_literature
from training.data.records import Code
from training.data.splits import SplitConfig, split_patients

VOCAB = {
    "diag": ["4019", "250.00", "<pad>"],
    "proc": ["3893", 9604],
    "med": ["N02B", "B01A", "M01A", "PAD"],
}
RECORDS = [
    [[[0, 1], [0], [0, 1]], [[1], [1, 0], [2, 1, 1]]],
    [[[0], [], [2]]],
]


def _write(
    tmp_path: Path, records: object = RECORDS, vocab: object = VOCAB, ddi: object = ((1, 2),)
) -> Path:
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    if ddi is not None:
        (tmp_path / "ddi_adj.json").write_text(json.dumps(ddi))
    return tmp_path


def test_reads_patients_in_file_order(tmp_path: Path) -> None:
    result = read_literature(_write(tmp_path))
    first, second = result.patients
    assert [first.patient_id, second.patient_id] == ["0", "1"]
    visit = first.visits[1]
    assert visit.diagnoses == (Code("icd9cm", "25000"),)
    assert visit.procedures == (Code("icd9proc", "9604"), Code("icd9proc", "3893"))
    assert visit.medications == ("B01A", "M01A")
    assert visit.time is None
    assert second.visits[0].procedures == ()
    assert result.extra["vocab_sizes"] == {"diag": 3, "proc": 2, "med": 4}


def test_ddi_pairs_become_a_table(tmp_path: Path) -> None:
    result = read_literature(_write(tmp_path))
    assert result.ddi is not None
    assert [p.key for p in result.ddi.pairs] == [("B01A", "M01A")]
    assert result.ddi.pairs[0].source == "benchmark-json"


def test_ingest_writes_dataset_and_ddi(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    manifest = ingest_literature(_write(tmp_path / "in"), tmp_path / "ds")
    assert (manifest.patients, manifest.visits) == (2, 3)
    assert manifest.source_format == "benchmark-json"
    assert len(Dataset(tmp_path / "ds").load()) == 2
    assert len(read_ddi_csv(tmp_path / "ds" / "ddi.csv")) == 1


def test_literature_split_on_benchmark_order(tmp_path: Path) -> None:
    records = [RECORDS[0]] * 9
    patients = read_literature(_write(tmp_path, records=records)).patients
    split = split_patients(patients, SplitConfig(method="literature"))
    assert [p.patient_id for p in split.train] == [str(i) for i in range(6)]
    assert [p.patient_id for p in split.test] == ["6"]
    assert [p.patient_id for p in split.val] == ["7", "8"]


@pytest.mark.parametrize(
    ("records", "vocab", "ddi", "file", "row", "column"),
    [
        ([[[[0], [0], [9]]]], VOCAB, None, "records.json", 1, "visit 1 med"),
        ([[[[0], [0]]]], VOCAB, None, "records.json", 1, "visit 1"),
        ([[[[0], [0], [0]]], "x"], VOCAB, None, "records.json", 2, None),
        ([[[[2], [0], [0]]]], VOCAB, None, "vocab.json", 3, "diag"),
        (RECORDS, {"diag": [], "proc": []}, None, "vocab.json", None, "med"),
        (RECORDS, VOCAB, [[0, 1], [1, 7]], "ddi_adj.json", 2, None),
        (RECORDS, VOCAB, [[0, 3]], "ddi_adj.json", 1, None),
    ],
)
def test_bad_input_names_file_row_column(
    tmp_path: Path,
    records: object,
    vocab: object,
    ddi: object,
    file: str,
    row: int | None,
    column: str | None,
) -> None:
    with pytest.raises(InputFileError) as info:
        read_literature(_write(tmp_path, records, vocab, ddi))
    assert (info.value.path.name, info.value.row, info.value.column) == (file, row, column)


def test_invalid_json_and_missing_files(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "records.json").write_text("[[[[0], [0], [0]]],\n oops]")
    with pytest.raises(InputFileError) as info:
        read_literature(tmp_path)
    assert info.value.row == 2 and "invalid JSON" in str(info.value)
    (tmp_path / "vocab.json").unlink()
    with pytest.raises(InputFileError, match="vocab.json: file not found"):
        read_literature(tmp_path)
