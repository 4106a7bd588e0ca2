"""One entry point for the MIMIC-IV, OMOP, Synthea and FHIR readers: format name + options.

The CLI (``medrec ingest --format ...``) and the training-job runner call :func:`ingest_export`.
Options that the chosen format does not take are refused, so a typo never passes silently.

Example::

    ingest_export("omop", Path("cdm"), Path("var/datasets/omop"), ExportOptions())
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from training.data.dataset import DatasetManifest, ReadResult, write_result
from training.data.ehr_pipeline import EhrFilterConfig
from training.data.fhir import FhirConfig, read_fhir
from training.data.mimic4 import Mimic4Config, read_mimic4
from training.data.omop import OmopConfig, read_omop
from training.data.synthea import SyntheaConfig, read_synthea

EXPORT_FORMATS = ("mimic4", "omop", "synthea", "fhir")
ALL_FORMATS = ("mimic3", "benchmark-json", *EXPORT_FORMATS)  # the formats of /v1/training-jobs
# Which optional ExportOptions field each format accepts (the filters apply to all).
_ACCEPTS = {
    "mimic4": {"atc_mapping", "ndc2rxcui", "multi_atc", "first_24h"},
    "omop": {"atc_mapping", "condition_source_system", "procedure_source_system", "use_vocabulary"},
    "synthea": {"atc_mapping", "snomed_conditions", "snomed_procedures", "encounter_classes"},
    "fhir": {"atc_mapping"},
}


@dataclass(frozen=True)
class ExportOptions:
    """Every reader option; ``None`` means "not given". See each reader's config for meanings."""

    filters: EhrFilterConfig = field(default_factory=EhrFilterConfig)
    atc_mapping: Path | None = None
    ndc2rxcui: Path | None = None
    multi_atc: Literal["all", "first"] | None = None
    snomed_conditions: Path | None = None
    snomed_procedures: Path | None = None
    first_24h: bool | None = None
    use_vocabulary: bool | None = None
    condition_source_system: str | None = None
    procedure_source_system: str | None = None
    encounter_classes: tuple[str, ...] | None = None

    def given(self) -> dict[str, Any]:
        """The options set, without the filters."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "filters" and getattr(self, f.name) is not None
        }


def read_export(fmt: str, export_dir: Path, options: ExportOptions) -> ReadResult:
    """Read ``export_dir`` in format ``fmt`` into patients plus their data report.

    Raises:
        ValueError: for an unknown format or an option the format does not take.
        InputFileError: for bad input (see each reader).
    """
    if fmt not in _ACCEPTS:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
    given = options.given()
    extra = sorted(set(given) - _ACCEPTS[fmt])
    if extra:
        raise ValueError(f"format {fmt!r} does not take: {', '.join(extra)}")
    if fmt == "mimic4":
        return read_mimic4(export_dir, Mimic4Config(filters=options.filters, **given))
    if fmt == "omop":
        return read_omop(export_dir, OmopConfig(filters=options.filters, **given))
    if fmt == "synthea":
        return read_synthea(export_dir, SyntheaConfig(filters=options.filters, **given))
    return read_fhir(export_dir, FhirConfig(filters=options.filters, **given))


def ingest_export(
    fmt: str, export_dir: Path, out_dir: Path, options: ExportOptions, *, overwrite: bool = False
) -> DatasetManifest:
    """Read an export and write it atomically as a canonical Dataset; return its manifest.

    Also takes the data branch's formats (``mimic3``, ``benchmark-json``), so that a training job
    has one entry point for every format of the API.

    Raises:
        ValueError: for an unknown format or an option the format does not take.
        InputFileError: for bad input (see each reader).
    """
    if fmt == "mimic3":
        return _ingest_mimic3(export_dir, out_dir, options, overwrite)
    if fmt == "benchmark-json":
        if options != ExportOptions():
            raise ValueError("format 'benchmark-json' takes no options (it is preprocessed)")
        from training.data.literature import ingest_literature

        return ingest_literature(export_dir, out_dir, overwrite=overwrite)
    result = read_export(fmt, export_dir, options)
    return write_result(result, out_dir, source_format=fmt, overwrite=overwrite)


def _ingest_mimic3(
    export_dir: Path, out_dir: Path, options: ExportOptions, overwrite: bool
) -> DatasetManifest:
    from training.data.mimic3 import Mimic3Config, ingest_mimic3

    given = options.given()
    extra = sorted(set(given) - {"atc_mapping", "ndc2rxcui", "multi_atc", "first_24h"})
    if extra or not options.filters.require_all_tables:
        raise ValueError(f"format 'mimic3' does not take: {', '.join(extra) or 'any-table'}")
    config = Mimic3Config(
        top_diagnoses=options.filters.top_n_diagnoses,
        min_visits=options.filters.min_visits,
        **given,
    )
    return ingest_mimic3(export_dir, out_dir, config, overwrite=overwrite)
