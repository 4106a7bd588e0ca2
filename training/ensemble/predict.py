"""An ensemble run as a :class:`~training.evaluate.predictor.Predictor` (``medrec evaluate``).

The members are rebuilt from the run: each recommender member from its own run directory
(:func:`training.evaluate.runs.load_run_predictor`), the logistic regression from ``lr.npz``.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.data.vocab import Vocabularies
from training.ensemble.logistic import LogisticMember
from training.ensemble.predictor import EnsemblePredictor, EnsembleSpec
from training.evaluate.predictor import Predictor
from training.evaluate.runs import load_run_predictor


def load_predictor(run_dir: Path, name: str = "ensemble") -> EnsemblePredictor:
    """Load the ensemble run in ``run_dir`` with its members (on the CPU).

    Raises:
        FileNotFoundError: if the run, its files or a member's run directory are missing.
    """
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    vocabs = Vocabularies.from_json(json.loads((run_dir / run["vocab_file"]).read_text()))
    spec = EnsembleSpec.from_json(json.loads((run_dir / run["spec_file"]).read_text()))
    members: list[Predictor] = []
    for source in run["members"]:
        if source["kind"] == "lr":
            members.append(LogisticMember.load(run_dir / source["file"], vocabs, source["name"]))
        else:
            members.append(load_run_predictor(Path(source["run_dir"])))
    return EnsemblePredictor(spec, tuple(members), vocabs, name)
