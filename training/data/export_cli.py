"""``medrec ingest --format mimic4|omop|synthea|fhir --input EXPORT --out DATASET``.

Examples::

    medrec ingest --format mimic4 --input mimic-iv/ --ndc-atc ndc2atc.csv --out var/ds/mimic4
    medrec ingest --format omop --input cdm/ --out var/ds/omop
    medrec ingest --format synthea --input synthea/ --rxcui-atc rxcui2atc.csv --out var/ds/syn
    medrec ingest --format fhir --input bulk/ --rxcui-atc rxcui2atc.csv --out var/ds/fhir
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MapOpt = Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="mapping CSV")]


def ingest_command(
    fmt: Annotated[str, typer.Option("--format", help="mimic4 | omop | synthea | fhir")],
    export_dir: Annotated[
        Path, typer.Option("--input", exists=True, file_okay=False, help="the export directory")
    ],
    out: Annotated[Path, typer.Option("--out", help="dataset directory to write")],
    ndc_atc: MapOpt = None,
    ndc_rxcui: MapOpt = None,
    rxcui_atc: MapOpt = None,
    drug_atc: MapOpt = None,
    snomed_conditions: MapOpt = None,
    snomed_procedures: MapOpt = None,
    first_24h: Annotated[bool | None, typer.Option("--first-24h", help="mimic4")] = None,
    use_vocabulary: Annotated[
        bool | None, typer.Option("--vocabulary/--no-vocabulary", help="omop")
    ] = None,
    condition_source_system: Annotated[str | None, typer.Option(help="omop")] = None,
    procedure_source_system: Annotated[str | None, typer.Option(help="omop")] = None,
    encounter_class: Annotated[list[str] | None, typer.Option(help="synthea, repeatable")] = None,
    top_n_diagnoses: Annotated[int, typer.Option(help="0 keeps every code")] = 2000,
    min_visits: Annotated[int, typer.Option(help="patients need this many visits")] = 2,
    all_tables: Annotated[
        bool, typer.Option("--all-tables/--any-table", help="visits need dx, proc and meds")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="replace an existing dataset")] = False,
) -> None:
    """Read an EHR export (MIMIC-IV, OMOP, Synthea, FHIR) into a canonical dataset."""
    from training.data.ehr_pipeline import EhrFilterConfig
    from training.data.export_formats import ExportOptions, ingest_export

    try:
        filters = EhrFilterConfig(top_n_diagnoses or None, min_visits, all_tables)
        options = ExportOptions(
            filters=filters,
            ndc_atc=ndc_atc,
            ndc_rxcui=ndc_rxcui,
            rxcui_atc=rxcui_atc,
            drug_atc=drug_atc,
            snomed_conditions=snomed_conditions,
            snomed_procedures=snomed_procedures,
            first_24h=first_24h,
            use_vocabulary=use_vocabulary,
            condition_source_system=condition_source_system,
            procedure_source_system=procedure_source_system,
            encounter_classes=tuple(encounter_class) if encounter_class else None,
        )
        manifest = ingest_export(fmt, export_dir, out, options, overwrite=overwrite)
    except ValueError as exc:
        if type(exc) is not ValueError:
            raise  # InputFileError: main() prints it as one line
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"{out}: {manifest.patients} patients, {manifest.visits} visits ({fmt})")
    for f in manifest.filters:
        typer.echo(f"  {f.name}: {f.rows_before} -> {f.rows_after} rows")
    for note in manifest.notes:
        typer.echo(f"  note: {note}")
