"""The canonical dataset on disk: ``patients.jsonl`` (one patient a line) plus ``manifest.json``.

A reader returns a :class:`ReadResult` (patients plus their data report, and the DDI table when the
input carries one); :func:`write_result` writes it. A dataset is written atomically: everything,
``ddi.csv`` included, goes into a temporary sibling directory that is renamed into place only once
complete, so a failed ingest never leaves a half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.contract.ddi_table import DdiTable, write_ddi_csv
from training.data.records import Patient

PATIENTS_FILE = "patients.jsonl"
MANIFEST_FILE = "manifest.json"
DDI_FILE = "ddi.csv"
DATASET_SCHEMA = 1


@dataclass(frozen=True)
class FilterEffect:
    """What one named preprocessing filter did: counts before and after it ran."""

    name: str
    params: dict[str, Any]
    rows_before: int
    rows_after: int
    patients_before: int | None = None
    patients_after: int | None = None


@dataclass(frozen=True)
class DatasetManifest:
    """Counts, fingerprint and provenance of a dataset.

    Attributes:
        source_format: the reader that produced it (``mimic3``, ``synthetic``...).
        fingerprint: sha256 of ``patients.jsonl``.
        filters: each filter's effect, in the order they ran.
        notes: warnings a person should read (unmapped codes, dropped rows), never patient data.
        extra: reader-specific facts (unmapped NDC counts, code-system mix...).
    """

    source_format: str
    fingerprint: str
    patients: int
    visits: int
    created_at: str
    filters: list[FilterEffect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    schema: int = DATASET_SCHEMA

    @property
    def is_synthetic(self) -> bool:
        """Whether the dataset holds generated patients, not patient data.

        True when ``source_format`` names the generator or the reader marked it so in
        ``extra["synthetic"]`` (a ``medrec synth`` export carries ``SYNTHETIC.json``).
        """
        return "synth" in self.source_format.lower() or bool(self.extra.get("synthetic"))

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DatasetManifest:
        """Build a manifest from its JSON form."""
        filters = [FilterEffect(**f) for f in obj.pop("filters", [])]
        return cls(filters=filters, **obj)


class SpilledPatients:
    """Patients kept on disk as they are read, in JSON lines, and read back in order.

    A reader that reads its export in passes (:mod:`training.data.mimic3`) spills each pass here,
    so memory holds one pass, never the cohort. The files live in a temporary directory that goes
    with this object.
    """

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="medrec-patients-"))
        weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self._files: list[Path] = []
        self._count = 0

    def extend(self, patients: Iterable[Patient]) -> None:
        """Append ``patients`` (one new spill file)."""
        path = self._dir / f"{len(self._files)}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for patient in patients:
                fh.write(json.dumps(patient.to_json(), separators=(",", ":")) + "\n")
                self._count += 1
        self._files.append(path)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Patient]:
        for path in self._files:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    yield Patient.from_json(json.loads(line))


@dataclass
class ReadResult:
    """What a reader produced: patients plus the data report that goes into the manifest.

    Attributes:
        patients: the canonical patients, in dataset order (on disk for a reader that reads in
            passes).
        filters: each filter's effect, in the order they ran.
        notes: warnings a person should read, never patient data.
        extra: reader-specific facts for the manifest.
        ddi: the interaction table the input carries (the literature format's), if any.
    """

    patients: list[Patient] | SpilledPatients
    filters: list[FilterEffect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    ddi: DdiTable | None = None


def write_result(
    result: ReadResult, out_dir: Path, *, source_format: str, overwrite: bool = False
) -> DatasetManifest:
    """Write ``result`` atomically as a canonical Dataset with its data report in the manifest."""
    return write_dataset(
        result.patients,
        out_dir,
        source_format=source_format,
        filters=result.filters,
        notes=result.notes,
        extra=result.extra,
        ddi=result.ddi,
        overwrite=overwrite,
    )


def write_dataset(
    patients: Iterable[Patient],
    out_dir: Path,
    *,
    source_format: str,
    filters: list[FilterEffect] | None = None,
    notes: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    ddi: DdiTable | None = None,
    overwrite: bool = False,
) -> DatasetManifest:
    """Stream ``patients`` to ``out_dir`` atomically and return the manifest written beside them.

    ``ddi``, when given, is written beside them as ``ddi.csv``.

    Raises:
        FileExistsError: if ``out_dir`` exists and ``overwrite`` is false.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: dataset already exists (use overwrite)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        digest = hashlib.sha256()
        n_patients = n_visits = 0
        with open(tmp / PATIENTS_FILE, "wb") as fh:
            for patient in patients:
                line = (json.dumps(patient.to_json(), separators=(",", ":")) + "\n").encode()
                digest.update(line)
                fh.write(line)
                n_patients += 1
                n_visits += len(patient.visits)
        manifest = DatasetManifest(
            source_format=source_format,
            fingerprint=digest.hexdigest(),
            patients=n_patients,
            visits=n_visits,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            filters=list(filters or []),
            notes=list(notes or []),
            extra=dict(extra or {}),
        )
        (tmp / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
        if ddi is not None:
            write_ddi_csv(ddi, tmp / DDI_FILE)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished ``src`` to ``dst``; an existing ``dst`` is removed only after the swap."""
    if not dst.exists():
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


class Dataset:
    """A dataset directory opened for reading."""

    def __init__(self, path: Path) -> None:
        """Open the dataset at ``path``; raises ``FileNotFoundError`` naming what is missing."""
        self.path = Path(path)
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.is_file() or not (self.path / PATIENTS_FILE).is_file():
            raise FileNotFoundError(f"{self.path}: not a MedRec dataset (no {MANIFEST_FILE})")
        self.manifest = DatasetManifest.from_json(json.loads(manifest_path.read_text()))

    def iter_patients(self) -> Iterator[Patient]:
        """Yield the patients in file order."""
        with open(self.path / PATIENTS_FILE, encoding="utf-8") as fh:
            for line in fh:
                yield Patient.from_json(json.loads(line))

    def load(self) -> list[Patient]:
        """Return all patients in file order."""
        return list(self.iter_patients())
