"""Scoring an exported artifact on held-out patients with onnxruntime (no torch).

Both the candidate and the active version are scored by this same code on the same patients,
so their metrics are comparable: every visit of a patient is predicted from the visits up to it
(the medications of earlier visits as history), as GAMENet is evaluated. Probabilities are laid
out in a common medication order (the candidate's vocabulary); a medication the scored model
does not know gets probability 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.contract.visits import RawVisit
from app.inference.onnx import OrtOptions, open_session, read_manifest
from app.inference.recommender import Recommender


def load_recommender(artifact_dir: Path, sha256: str | None = None) -> Recommender:
    """Open an artifact (hash-checked) as a recommender without evidence computation.

    Raises:
        ArtifactError: the artifact is broken or not a recommender.
    """
    manifest = read_manifest(artifact_dir)
    session = open_session(artifact_dir, manifest, sha256 or manifest.onnx_sha256, OrtOptions())
    rec = Recommender(manifest, session, evidence_per_medication=0)
    rec.golden_check()
    return rec


def score_patients(
    rec: Recommender, patients: Sequence[Sequence[RawVisit]], meds: Sequence[str]
) -> list[np.ndarray]:
    """Return, per patient, float32 ``[V_p, len(meds)]``: each visit scored from its prefix."""
    column = {m: i for i, m in enumerate(meds)}
    out = []
    for visits in patients:
        probs = np.zeros((len(visits), len(meds)), dtype=np.float32)
        for t in range(len(visits)):
            prefix = [*visits[:t], RawVisit(visits[t].diagnoses, visits[t].procedures)]
            answer = rec.recommend(prefix, threshold=0.0)
            for med in answer.medications:
                if med.atc3 in column:
                    probs[t, column[med.atc3]] = med.probability
        out.append(probs)
    return out
