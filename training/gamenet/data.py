"""Everything a GAMENet run needs from a dataset: split, vocabularies, encodings and graphs.

The DDI table is the dataset's own ``ddi.csv`` when it has one (synthetic exports and the
literature reader write one), else the file passed with ``--ddi``. Vocabularies and the EHR graph
are fitted on the training split only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.ddi_table import DdiTable, read_ddi_csv
from training.batching import EncodedPatient, encode_patients
from training.data.dataset import Dataset
from training.data.records import Patient
from training.data.splits import Split, SplitConfig, split_patients
from training.data.vocab import Vocabularies
from training.graphs import ddi_adjacency, ehr_adjacency

logger = logging.getLogger(__name__)

DATASET_DDI_FILE = "ddi.csv"


@dataclass(frozen=True)
class PreparedData:
    """A dataset made ready for GAMENet.

    Attributes:
        split: the patients of each part.
        vocabs: fitted on ``split.train``.
        train, val, test: the encoded patients of each part (unknown codes dropped).
        ehr_adj: ``[M, M]`` co-prescription graph of the training split.
        ddi_adj: ``[M, M]`` known-interaction graph over the med vocabulary.
        ddi_table: the interaction table used.
        dataset: the manifest's ``dataset`` record (fingerprint, source, filters, split, counts).
        unknown_codes: per part, the unknown-code counts (for the log and the report).
    """

    split: Split
    vocabs: Vocabularies
    train: list[EncodedPatient]
    val: list[EncodedPatient]
    test: list[EncodedPatient]
    ehr_adj: np.ndarray
    ddi_adj: np.ndarray
    ddi_table: DdiTable
    dataset: dict[str, Any]
    unknown_codes: dict[str, dict[str, int]]

    @property
    def synthetic(self) -> bool:
        """Whether the dataset was generated (``DatasetManifest.is_synthetic``)."""
        return bool(self.dataset.get("synthetic", False))

    def ddi_source(self) -> dict[str, Any]:
        """The manifest's ``ddi_source`` record."""
        t = self.ddi_table
        return {"name": t.name, "fingerprint": t.fingerprint, "pairs": len(t.pairs)}


def resolve_ddi_table(data_dir: Path, ddi_path: Path | None) -> DdiTable:
    """Read the dataset's own ``ddi.csv``, else ``ddi_path``.

    Raises:
        FileNotFoundError: when neither exists.
    """
    own = Path(data_dir) / DATASET_DDI_FILE
    if own.is_file():
        if ddi_path is not None:
            logger.warning("%s has its own %s; ignoring --ddi %s", data_dir, own.name, ddi_path)
        return read_ddi_csv(own)
    if ddi_path is None:
        raise FileNotFoundError(
            f"{data_dir}: no {DATASET_DDI_FILE} in the dataset; pass --ddi FILE"
        )
    return read_ddi_csv(Path(ddi_path))


def prepare_data(
    data_dir: Path, split_config: SplitConfig, ddi_path: Path | None = None
) -> PreparedData:
    """Load, split, fit vocabularies and graphs, and encode every part.

    Raises:
        FileNotFoundError: if ``data_dir`` is not a dataset or no DDI table is found.
        ValueError: if a split part is empty, or the medications are not ATC3 classes (a Synthea
            export read without an RxNorm→ATC map), so no ATC3 DDI table could match them.
    """
    dataset = Dataset(Path(data_dir))
    med_system = dataset.manifest.extra.get("medication_system", "atc3")
    if med_system != "atc3":
        raise ValueError(
            f"{data_dir}: medications are {med_system} codes, not ATC3 classes; re-ingest with an "
            "ATC mapping (--atc-map) so the DDI table and the DDI loss apply"
        )
    patients = _with_visits(dataset.load())
    split = split_patients(patients, split_config)
    for name in ("train", "val", "test"):
        if not getattr(split, name):
            raise ValueError(f"{data_dir}: the {name} split is empty ({len(patients)} patients)")
    vocabs = Vocabularies.fit(split.train)
    table = resolve_ddi_table(data_dir, ddi_path)
    encoded, unknown = {}, {}
    for name in ("train", "val", "test"):
        encoded[name], stats = encode_patients(getattr(split, name), vocabs)
        unknown[name] = dict(stats.unknown)
        logger.info("%s: %d patients; %s", name, len(encoded[name]), stats.describe())
    manifest = dataset.manifest
    info = {
        "fingerprint": manifest.fingerprint,
        "source_format": manifest.source_format,
        "filters": [f.name for f in manifest.filters],
        "split": split.describe(),
        "patients": manifest.patients,
        "visits": manifest.visits,
        "synthetic": manifest.is_synthetic,
    }
    return PreparedData(
        split=split,
        vocabs=vocabs,
        train=encoded["train"],
        val=encoded["val"],
        test=encoded["test"],
        ehr_adj=ehr_adjacency(split.train, vocabs.med),
        ddi_adj=ddi_adjacency(table, vocabs.med),
        ddi_table=table,
        dataset=info,
        unknown_codes=unknown,
    )


def _with_visits(patients: list[Patient]) -> list[Patient]:
    kept = [p for p in patients if p.visits]
    if len(kept) < len(patients):
        logger.warning("skipped %d patients without visits", len(patients) - len(kept))
    return kept
