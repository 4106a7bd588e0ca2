r"""Data commands: ``medrec synth``, ``medrec ingest`` and ``medrec data report``.

Examples::

    medrec synth --patients 1000 --seed 0 --out var/synthetic
    medrec data report var/synthetic
    medrec ingest --format mimic3 --input var/synthetic --out var/datasets/synthetic
    medrec ingest --format mimic3 --input mimic3-demo --out var/datasets/demo \\
        --atc-map mappings/ndc2atc.csv --ndc2rxcui mappings/ndc2rxcui.csv
    medrec ingest --format benchmark-json --input benchmark/ --out var/datasets/benchmark
    medrec ingest --format mimic4 --input mimic-iv/ --atc-map ndc2atc.csv --out var/datasets/m4
    medrec ingest --format omop --input cdm/ --out var/datasets/omop
    medrec ingest --format synthea --input synthea/ --atc-map rxcui2atc.csv --out var/datasets/syn
    medrec ingest --format fhir --input bulk/ --atc-map rxcui2atc.csv --out var/datasets/fhir
    medrec ingest --format meds --input meds-root/ --out var/datasets/meds
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.contract.names import InputFormat

data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


def synth(
    out: Annotated[Path, typer.Option("--out", help="Directory for the MIMIC-III-layout export.")],
    patients: Annotated[int, typer.Option("--patients", min=0, help="Number of patients.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the cohort.")] = 0,
    ddi_rate: Annotated[
        float, typer.Option("--ddi-rate", help="Target co-prescription DDI rate.")
    ] = 0.07,
) -> None:
    """Generate a synthetic cohort as a MIMIC-III-layout export with NDC maps and ddi.csv."""
    from training.data.synth import SynthConfig, write_mimic3_export

    counts = write_mimic3_export(
        SynthConfig(patients=patients, seed=seed, target_ddi_rate=ddi_rate), out
    )
    typer.echo(f"wrote {out}: " + ", ".join(f"{k} {v} rows" for k, v in counts.items()))


def ingest(
    input_format: Annotated[InputFormat, typer.Option("--format", help="Format of the input.")],
    input_dir: Annotated[Path, typer.Option("--input", help="Export or benchmark directory.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset directory to write (atomically).")],
    atc_map: Annotated[
        Path | None,
        typer.Option("--atc-map", help="ndc,atc4 or rxcui,atc4 CSV (omop: drug_concept_id too)."),
    ] = None,
    ndc2rxcui: Annotated[Path | None, typer.Option("--ndc2rxcui", help="ndc,rxcui CSV.")] = None,
    multi_atc: Annotated[
        Literal["all", "first"] | None,
        typer.Option("--multi-atc", help="NDCs with many ATCs (default all)."),
    ] = None,
    first_24h: Annotated[
        bool, typer.Option("--first-24h", help="First prescription day only.")
    ] = False,
    top_diagnoses: Annotated[
        int | None, typer.Option("--top-diagnoses", help="Keep N codes (default 2000); 0: all.")
    ] = None,
    min_visits: Annotated[
        int | None,
        typer.Option("--min-visits", min=1, help="Minimum visits per patient (default 2)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing dataset.")
    ] = False,
    snomed_conditions: Annotated[
        Path | None, typer.Option(help="synthea: snomed,icd10cm (or snomed,system,code) CSV.")
    ] = None,
    snomed_procedures: Annotated[
        Path | None, typer.Option(help="synthea: snomed,icd10pcs (or snomed,system,code) CSV.")
    ] = None,
    vocabulary: Annotated[
        bool | None, typer.Option("--vocabulary/--no-vocabulary", help="omop: use concept tables.")
    ] = None,
    condition_source_system: Annotated[
        str | None, typer.Option(help="omop without vocabulary: system of source values.")
    ] = None,
    procedure_source_system: Annotated[
        str | None, typer.Option(help="omop without vocabulary: system of source values.")
    ] = None,
    encounter_class: Annotated[
        list[str] | None, typer.Option(help="synthea: keep these ENCOUNTERCLASS values.")
    ] = None,
    all_tables: Annotated[
        bool | None,
        typer.Option("--all-tables/--any-table", help="Visits need dx, proc and meds (default)."),
    ] = None,
) -> None:
    """Read an EHR export into a Dataset and print its data report."""
    from training.data.ingest import IngestError
    from training.data.ingest import ingest as ingest_format

    given: dict[str, Any] = {
        "atc_mapping": atc_map,
        "ndc2rxcui": ndc2rxcui,
        "multi_atc": multi_atc,
        "first_24h": first_24h or None,
        "top_diagnoses": top_diagnoses,
        "min_visits": min_visits,
        "require_all_tables": all_tables,
        "snomed_conditions": snomed_conditions,
        "snomed_procedures": snomed_procedures,
        "use_vocabulary": vocabulary,
        "condition_source_system": condition_source_system,
        "procedure_source_system": procedure_source_system,
        "encounter_classes": tuple(encounter_class) if encounter_class else None,
    }
    options = {k: v for k, v in given.items() if v is not None}
    if top_diagnoses == 0:
        options["top_diagnoses"] = None  # keep every code
    try:
        manifest = ingest_format(input_format, input_dir, out, options, overwrite=overwrite)
    except IngestError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"wrote {out}: {manifest.patients} patients, {manifest.visits} visits")
    report(out)


@data_app.command("report")
def report(
    path: Annotated[Path, typer.Argument(help="Dataset directory or MIMIC-III export.")],
) -> None:
    """Print counts, code mix, set sizes and each filter's effect."""
    from rich.console import Console

    from training.data.report import load_report, render_report

    console = Console() if sys.stdout.isatty() else Console(width=140)  # no wrapping in logs
    render_report(load_report(path), console)
