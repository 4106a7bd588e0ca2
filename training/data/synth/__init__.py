"""Synthetic EHR: a seeded, streamed cohort with real clinical structure (``medrec synth``)."""

from training.data.synth.ddi import pooled_ddi_rate, synthetic_ddi_table
from training.data.synth.export import write_mimic3_export
from training.data.synth.generator import SynthConfig, generate_patients

__all__ = [
    "SynthConfig",
    "generate_patients",
    "pooled_ddi_rate",
    "synthetic_ddi_table",
    "write_mimic3_export",
]
