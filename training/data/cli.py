r"""Data commands: ``medrec synth``, ``medrec ingest`` and ``medrec data report``.

Examples::

    medrec synth --patients 1000 --seed 0 --out var/synthetic
    medrec data report var/synthetic
    medrec ingest --format mimic3 --input var/synthetic --out var/datasets/synthetic
    medrec ingest --format mimic3 --input mimic3-demo --out var/datasets/demo \\
        --atc-map mappings/ndc2atc.csv --ndc2rxcui mappings/ndc2rxcui.csv
    medrec ingest --format benchmark-json --input benchmark/ --out var/datasets/benchmark
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


class InputFormat(StrEnum):
    """Formats ``medrec ingest`` reads."""

    MIMIC3 = "mimic3"
    BENCHMARK_JSON = "benchmark-json"


class MultiAtc(StrEnum):
    """What to do with an NDC that maps to several ATC4 codes."""

    ALL = "all"
    FIRST = "first"


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
        Path | None, typer.Option("--atc-map", help="ndc,atc4 or rxcui,atc4 CSV.")
    ] = None,
    ndc2rxcui: Annotated[Path | None, typer.Option("--ndc2rxcui", help="ndc,rxcui CSV.")] = None,
    multi_atc: Annotated[
        MultiAtc, typer.Option("--multi-atc", help="NDCs with many ATCs.")
    ] = MultiAtc.ALL,
    first_24h: Annotated[
        bool, typer.Option("--first-24h", help="First prescription day only.")
    ] = False,
    top_diagnoses: Annotated[
        int, typer.Option("--top-diagnoses", help="Keep N codes; 0 keeps all.")
    ] = 2000,
    min_visits: Annotated[
        int, typer.Option("--min-visits", min=1, help="Minimum visits per patient.")
    ] = 2,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing dataset.")
    ] = False,
) -> None:
    """Read an EHR export into a Dataset and print its data report."""
    if input_format is InputFormat.BENCHMARK_JSON:
        from training.data.literature import ingest_literature

        manifest = ingest_literature(input_dir, out, overwrite=overwrite)
    else:
        from training.data.mimic3 import Mimic3Config, ingest_mimic3

        config = Mimic3Config(
            atc_mapping=atc_map,
            ndc2rxcui=ndc2rxcui,
            multi_atc=multi_atc.value,
            first_24h=first_24h,
            top_diagnoses=top_diagnoses or None,
            min_visits=min_visits,
        )
        manifest = ingest_mimic3(input_dir, out, config, overwrite=overwrite)
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
