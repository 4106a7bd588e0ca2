"""A GAMENet run as a :class:`~training.evaluate.predictor.Predictor`.

The run's best checkpoint scores every visit of a patient in one batched forward pass in eval
mode (:func:`training.gamenet.steps.evaluate`); a first visit is scored with fact2 = fact1, as
the model does when there is no past. Codes outside the run's vocabularies are dropped, as in
training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.gamenet import GAMENet
from training.batching import encode_patients
from training.data.records import Patient
from training.data.vocab import Vocabularies
from training.gamenet.steps import evaluate, load_model


@dataclass(frozen=True)
class GAMENetPredictor:
    """A trained GAMENet and the vocabularies it was trained with."""

    name: str
    model: GAMENet
    vocabs: Vocabularies
    batch_size: int = 512

    @property
    def med_vocab(self) -> tuple[str, ...]:
        """The ATC3 class of each output column."""
        return self.vocabs.med.tokens

    def predict(self, patients: Sequence[Patient]) -> list[np.ndarray]:
        """Return one ``[V_p, M]`` probability matrix per patient, one row per visit.

        Raises:
            ValueError: if a patient has no visits.
        """
        if not patients:
            return []
        encoded, _ = encode_patients(patients, self.vocabs)
        return evaluate(self.model, encoded, batch_size=self.batch_size)


def load_predictor(run_dir: Path, name: str = "gamenet") -> GAMENetPredictor:
    """Load the best checkpoint of the GAMENet run in ``run_dir`` (on the CPU).

    Raises:
        FileNotFoundError: if ``run.json``, the vocabulary or the checkpoint is missing.
    """
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    vocabs = Vocabularies.from_json(
        json.loads((run_dir / run.get("vocab_file", "vocab.json")).read_text())
    )
    model, _ = load_model(run_dir / run.get("checkpoint", "best.ckpt"))
    batch = int(run.get("train_config", {}).get("eval_batch_size", 512))
    return GAMENetPredictor(name, model.eval(), vocabs, batch)
