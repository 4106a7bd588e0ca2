"""The GAMENet/SafeDrug processed benchmark as JSON: records, vocabulary and DDI pairs.

* ``records.json``: a list of patients; a patient is a list of visits; a visit is
  ``[diag_idx_list, proc_idx_list, med_idx_list]`` (further items are ignored).
* ``vocab.json``: ``{"diag": [...], "proc": [...], "med": [...]}``, the code of each index. Indices
  nobody uses (special tokens) may hold anything.
* ``ddi_adj.json``: a list of ``[i, j]`` med-index pairs that interact.

Only JSON is read: the benchmark's pickles are never unpickled (a pickle can run code).
Patients keep file order, so the literature split (:mod:`training.data.splits`) is the papers'.

Example::

    medrec ingest --format benchmark-json --input benchmark/ --out var/benchmark
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.contract.codes import CodeSystem, normalize_code
from app.contract.ddi_table import DdiPair, DdiTable
from app.contract.errors import InputFileError
from training.data.dataset import DatasetManifest, ReadResult, write_result
from training.data.records import Code, Patient, Visit

KINDS = ("diag", "proc", "med")
_SYSTEMS = {"diag": CodeSystem.ICD9CM.value, "proc": CodeSystem.ICD9PROC.value}


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputFileError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise InputFileError(path, f"invalid JSON (column {err.colno})", row=err.lineno) from None


def _load_vocab(path: Path) -> dict[str, list[str]]:
    raw = _load_json(path)
    if not isinstance(raw, dict):
        raise InputFileError(
            path, 'expected an object {"diag": [...], "proc": [...], "med": [...]}'
        )
    vocab = {}
    for kind in KINDS:
        codes = raw.get(kind)
        if not isinstance(codes, list):
            raise InputFileError(path, "expected a list of codes", column=kind)
        vocab[kind] = [str(c).strip() for c in codes]
    return vocab


class _Decoder:
    """Maps indices to canonical codes, validating each code the first time it is used."""

    def __init__(self, vocab: dict[str, list[str]], vocab_path: Path) -> None:
        self.vocab = vocab
        self.path = vocab_path
        self.cache: dict[tuple[str, int], Any] = {}

    def code(self, kind: str, index: int) -> Any:
        key = (kind, index)
        if key not in self.cache:
            raw = self.vocab[kind][index]
            if kind == "med":
                self.cache[key] = raw
            else:
                try:
                    self.cache[key] = Code(_SYSTEMS[kind], normalize_code(raw))
                except ValueError:
                    raise InputFileError(
                        self.path, "not a valid ICD-9 code", row=index + 1, column=kind
                    ) from None
        return self.cache[key]


def _indices(value: Any, size: int) -> list[int] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size for i in value):
        return None
    return value


def _visit(path: Path, dec: _Decoder, p: int, k: int, raw: Any) -> Visit:
    where = f"visit {k + 1}"
    if not isinstance(raw, list) or len(raw) < 3:
        raise InputFileError(
            path, "a visit is [diag_ids, proc_ids, med_ids]", row=p + 1, column=where
        )
    lists = []
    for kind, value in zip(KINDS, raw[:3], strict=True):
        ids = _indices(value, len(dec.vocab[kind]))
        if ids is None:
            raise InputFileError(
                path,
                f"expected a list of {kind} indices within vocab.json",
                row=p + 1,
                column=f"{where} {kind}",
            )
        lists.append(list(dict.fromkeys(dec.code(kind, i) for i in ids)))
    return Visit(f"{p}-{k}", None, tuple(lists[0]), tuple(lists[1]), tuple(sorted(lists[2])))


def _patients(path: Path, dec: _Decoder) -> list[Patient]:
    records = _load_json(path)
    if not isinstance(records, list) or not records:
        raise InputFileError(path, "expected a non-empty list of patients")
    patients = []
    for p, raw in enumerate(records):
        if not isinstance(raw, list):
            raise InputFileError(path, "a patient is a list of visits", row=p + 1)
        visits = tuple(_visit(path, dec, p, k, v) for k, v in enumerate(raw))
        patients.append(Patient(str(p), visits))
    return patients


def _ddi(path: Path, meds: list[str]) -> DdiTable:
    raw = _load_json(path)
    if not isinstance(raw, list):
        raise InputFileError(path, "expected a list of [i, j] med-index pairs")
    pairs = []
    for n, item in enumerate(raw):
        ids = _indices(item, len(meds))
        if ids is None or len(ids) != 2:
            raise InputFileError(path, "expected [i, j] med indices within vocab.json", row=n + 1)
        try:
            pairs.append(DdiPair(meds[ids[0]], meds[ids[1]], (), "unknown", "benchmark-json"))
        except ValueError as err:
            raise InputFileError(path, str(err), row=n + 1) from None
    return DdiTable.from_pairs(pairs, name="benchmark-json")


def read_literature(input_dir: Path) -> ReadResult:
    """Read a benchmark directory; ``ddi_adj.json`` is optional.

    Raises:
        InputFileError: naming the file, the patient (row) and the visit/field (column).
    """
    input_dir = Path(input_dir)
    vocab = _load_vocab(input_dir / "vocab.json")
    patients = _patients(input_dir / "records.json", _Decoder(vocab, input_dir / "vocab.json"))
    ddi_path = input_dir / "ddi_adj.json"
    ddi = _ddi(ddi_path, vocab["med"]) if ddi_path.is_file() else None
    result = ReadResult(patients, ddi=ddi)
    result.extra["vocab_sizes"] = {k: len(v) for k, v in vocab.items()}
    if ddi is None:
        result.notes.append("no ddi_adj.json: no DDI table")
    else:
        result.extra["ddi"] = {"file": "ddi.csv", "pairs": len(ddi), "fingerprint": ddi.fingerprint}
    return result


def ingest_literature(
    input_dir: Path, out_dir: Path, *, overwrite: bool = False
) -> DatasetManifest:
    """Read ``input_dir`` and write the Dataset with its DDI table (``ddi.csv``) atomically."""
    return write_result(
        read_literature(input_dir), out_dir, source_format="benchmark-json", overwrite=overwrite
    )
