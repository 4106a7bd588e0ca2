"""The one ingest dispatcher: format name + options → reader → canonical Dataset and data report.

``medrec ingest``, the training jobs (:class:`training.jobs.Toolkit`) and the benches all call
:func:`ingest`. The formats are :data:`app.contract.names.INPUT_FORMATS`; :data:`READERS` says where
each one's reader lives. Options are the fields of the format's reader config (e.g.
:class:`~training.data.mimic4.Mimic4Config`), with the shared filters spelled ``top_diagnoses``,
``min_visits`` and ``require_all_tables`` for every export format. An option the format does not
take is refused by name, so a typo never passes silently.

Example::

    ingest("mimic4", Path("mimic-iv"), Path("var/datasets/m4"),
           {"atc_mapping": Path("ndc2atc.csv"), "min_visits": 1})
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from app.contract.names import INPUT_FORMATS
from training.data.dataset import DatasetManifest, ReadResult, write_result
from training.data.ehr_pipeline import EhrFilterConfig

# The shared filter options and the EhrFilterConfig field each one sets.
FILTER_OPTIONS = {
    "top_diagnoses": "top_n_diagnoses",
    "min_visits": "min_visits",
    "require_all_tables": "require_all_tables",
}


class Reader(NamedTuple):
    """Where a format's reader lives; imported on first use, so a build may leave one out.

    Attributes:
        module: the module holding the reader.
        function: ``function(input_dir[, config]) -> ReadResult``.
        config: the name of the reader's config dataclass in ``module``; ``None``: no options.
    """

    module: str
    function: str
    config: str | None


READERS: dict[str, Reader] = {
    "mimic3": Reader("training.data.mimic3", "read_mimic3", "Mimic3Config"),
    "mimic4": Reader("training.data.mimic4", "read_mimic4", "Mimic4Config"),
    "omop": Reader("training.data.omop", "read_omop", "OmopConfig"),
    "synthea": Reader("training.data.synthea", "read_synthea", "SyntheaConfig"),
    "fhir": Reader("training.data.fhir", "read_fhir", "FhirConfig"),
    "meds": Reader("training.data.meds", "read_meds", "MedsConfig"),
    "benchmark-json": Reader("training.data.literature", "read_literature", None),
}


class IngestError(ValueError):
    """A format that has no reader, or options its reader refuses; the message names them."""


def reader_options(fmt: str) -> dict[str, str]:
    """Return the options ``fmt`` takes: name → the annotation of its field (e.g. ``Path | None``).

    Raises:
        IngestError: if ``fmt`` is unknown or has no reader in this build.
    """
    return _options_of(_load(fmt)[1])


def read(fmt: str, input_dir: Path, options: Mapping[str, Any] | None = None) -> ReadResult:
    """Read ``input_dir`` in format ``fmt`` into patients plus their data report.

    Args:
        fmt: one of :data:`app.contract.names.INPUT_FORMATS`.
        input_dir: the export (or benchmark) directory.
        options: reader options (see the module docstring); missing ones take their defaults.

    Raises:
        IngestError: for an unknown format, a format without a reader in this build, or an option
            the format does not take or a value it refuses.
        InputFileError: for bad input, naming the file, row and column (see each reader).
    """
    function, config = _load(fmt)
    if config is None:
        if options:
            raise IngestError(_refusal(fmt, sorted(options), []))
        return function(Path(input_dir))
    return function(Path(input_dir), _config(fmt, config, dict(options or {})))


def ingest(
    fmt: str,
    input_dir: Path,
    out_dir: Path,
    options: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> DatasetManifest:
    """Read ``input_dir`` (see :func:`read`), write it atomically as a Dataset, return the manifest.

    The manifest holds the data report (each filter's effect, notes, reader facts); a DDI table the
    input carries is written into the dataset as ``ddi.csv``.

    Raises:
        IngestError: see :func:`read`.
        InputFileError: for bad input (see each reader).
        FileExistsError: if ``out_dir`` exists and ``overwrite`` is false.
    """
    result = read(fmt, input_dir, options)
    return write_result(result, out_dir, source_format=fmt, overwrite=overwrite)


def _load(fmt: str) -> tuple[Callable[..., ReadResult], type[Any] | None]:
    reader = READERS.get(fmt)
    if reader is None:
        raise IngestError(f"unknown format {fmt!r} (one of {', '.join(INPUT_FORMATS)})")
    try:
        module = importlib.import_module(reader.module)
    except ModuleNotFoundError:
        raise IngestError(f"format {fmt!r} has no reader in this build") from None
    config = getattr(module, reader.config) if reader.config else None
    return getattr(module, reader.function), config


def _options_of(config: type[Any] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for f in dataclasses.fields(config) if config is not None else ():
        if f.name == "filters":
            types = {g.name: str(g.type) for g in dataclasses.fields(EhrFilterConfig)}
            options.update({name: types[target] for name, target in FILTER_OPTIONS.items()})
        else:
            options[f.name] = str(f.type)
    return options


def _config(fmt: str, config: type[Any], options: dict[str, Any]) -> Any:
    takes = _options_of(config)
    refused = sorted(set(options) - set(takes))
    if refused:
        raise IngestError(_refusal(fmt, refused, list(takes)))
    try:
        if any(f.name == "filters" for f in dataclasses.fields(config)):
            given = {k: options.pop(k) for k in FILTER_OPTIONS if k in options}
            options["filters"] = EhrFilterConfig(**{FILTER_OPTIONS[k]: v for k, v in given.items()})
        return config(**options)
    except (TypeError, ValueError) as exc:
        raise IngestError(f"{fmt} reader options: {exc}") from None


def _refusal(fmt: str, refused: list[str], takes: list[str]) -> str:
    names = ", ".join(repr(name) for name in refused)
    what = "reader option" if len(refused) == 1 else "reader options"
    verb = "is" if len(refused) == 1 else "are"
    known = f"it takes: {', '.join(takes)}" if takes else "it takes no options"
    return f"{what} {names} {verb} not known to the {fmt} reader; {known}"
