"""A fine-tuned G-BERT run as a :class:`~training.evaluate.predictor.Predictor`.

Every visit is scored, the first one with a zero past: row ``t`` uses the diagnoses of visits
``0..t`` and the medications of visits ``0..t-1`` (the model never reads visit ``t``'s own
medications, see ``GBertRecommender.visit_logits``), and the procedures of visits ``0..t`` when
the run's encoder reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.gbert.model import GBertRecommender
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.evaluate.predictor import Predictor
from training.gbert.batches import encode_patient
from training.gbert.finetune import predict
from training.gbert.runs import load_model


class GBertPredictor:
    """Scores patients with a fine-tuned G-BERT (torch, eval mode)."""

    def __init__(
        self, model: GBertRecommender, vocabs: Vocabularies, name: str, batch_size: int = 64
    ) -> None:
        self.model = model.eval()
        self.vocabs = vocabs
        self._name = name
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        """``gbert``, with ``-dha`` / ``-gqa`` and the adapter kind where the run has them."""
        return self._name

    @property
    def med_vocab(self) -> Sequence[str]:
        """The ATC3 class of each output column."""
        return self.vocabs.med.tokens

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one ``[V_p, M]`` probability matrix per patient (``[0, M]`` without visits)."""
        m = len(self.vocabs.med)
        use_procedures = self.model.encoder.config.use_procedures
        encoded = [encode_patient(p, self.vocabs, use_procedures) for p in patients]
        scored = [p for p in encoded if p]
        _, probs = predict(self.model, scored, batch_size=self.batch_size, num_meds=m)
        rows = iter(probs)
        empty = np.zeros((0, m), dtype=np.float32)
        return [next(rows) if p else empty for p in encoded]


def _label(run: dict[str, object]) -> str:
    config = run["run_config"]
    lineage = run["lineage"]
    assert isinstance(config, dict) and isinstance(lineage, list)
    name = "gbert"
    if "dha" in lineage:
        name += "-gqa" if config.get("dha_method") == "gqa" else "-dha"
    if config.get("adapter", "none") != "none":
        name += f"-{config['adapter']}"
    return name


def load_predictor(run_dir: Path) -> Predictor:
    """Return the predictor of a fine-tuned G-BERT run directory (its ``best.ckpt``).

    Raises:
        FileNotFoundError: if ``run_dir`` is not a run directory.
        ValueError: if the run is not a G-BERT fine-tuning run.
    """
    model, run = load_model(Path(run_dir))
    if run["stage"] != "finetune" or not isinstance(model, GBertRecommender):
        raise ValueError(f"{run_dir}: only a finetune run predicts (stage {run['stage']})")
    return GBertPredictor(model, Vocabularies.from_json(run["vocab"]), _label(run))
