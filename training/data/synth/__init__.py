"""Synthetic EHR: a seeded, streamed cohort with real clinical structure (``medrec synth``)."""

from training.data.synth.ddi import InteractionRow, synthetic_ddi_rows, write_ddi_rows_csv
from training.data.synth.export import write_mimic3_export
from training.data.synth.generator import SynthConfig, generate_patients

__all__ = [
    "InteractionRow",
    "SynthConfig",
    "generate_patients",
    "synthetic_ddi_rows",
    "write_ddi_rows_csv",
    "write_mimic3_export",
]
