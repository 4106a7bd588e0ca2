"""Every pair's predicted risk, computed once when a pair-risk model is activated.

A recommendation asks for the risk of every pair of its ~10-30 medications, and
``/v1/interactions`` for up to 1,225 pairs. Running the pair model per request cost more than
the recommender itself, while its answers depend only on the model version. So the registry
scores every unordered pair of the model's drug vocabulary (``D`` ATC3 classes, ``D(D-1)/2``
pairs, in chunks) when it prepares the version, and keeps the answers with its snapshot as
dense ``[D, D]`` arrays; requests only index them.

Memory per worker: ``D² × (8 + 6k)`` bytes for ``k`` top types (3 by default): 0.6 MB for the
150 ATC3 classes of the MIMIC-III benchmark, 27 MB at the cap of :data:`MAX_DRUGS`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.errors import ArtifactError
from app.inference.pair_risk import PairRisk, PairRiskPredictor, TypeScore, UnknownDrug

MAX_DRUGS = 1024  # ATC level 3 has about 270 classes; a larger vocabulary is not ATC3
_CHUNK = 8192  # pairs per predictor call while tabulating


@dataclass(frozen=True)
class PairRiskTable:
    """The pair model's answer for every pair of its drugs; symmetric, read-only.

    Attributes:
        drugs: the model's drug vocabulary (ATC3), in index order (``index`` maps it back).
        types: the interaction types the answers name, in the order ``top_types`` indexes.
        risk: ``[D, D]`` float64 predicted risk (the model's own value); NaN on the diagonal
            and where the model could not score the pair.
        top_types: ``[D, D, k]`` int16 indices into ``types``, most probable first; -1 pads.
        top_probabilities: ``[D, D, k]`` float32 probabilities of ``top_types`` (GENN's
            outputs are float32, so this keeps them exactly).
    """

    drugs: tuple[str, ...]
    types: tuple[str, ...]
    risk: np.ndarray = field(repr=False)
    top_types: np.ndarray = field(repr=False)
    top_probabilities: np.ndarray = field(repr=False)
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {d: i for i, d in enumerate(self.drugs)})

    def risks(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``[P]`` float64 risks of ``pairs``; NaN for an unknown drug or a pair of one drug."""
        index = self.index
        rows = np.array([index.get(a, -1) for a, _ in pairs], dtype=np.int64)
        cols = np.array([index.get(b, -1) for _, b in pairs], dtype=np.int64)
        return self._lookup(rows, cols)

    def risks_among(self, drugs: Sequence[str]) -> np.ndarray:
        """The :meth:`risks` of every pair of ``drugs`` in ``itertools.combinations`` order.

        One index lookup per drug, not two per pair: a recommendation's 13 medications make 78.
        """
        ids = np.array([self.index.get(d, -1) for d in drugs], dtype=np.int64)
        first, second = _upper_triangle(len(drugs))
        return self._lookup(ids[first], ids[second])

    def _lookup(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        known = (rows >= 0) & (cols >= 0)
        out = np.full(len(rows), np.nan)
        out[known] = self.risk[rows[known], cols[known]]
        return out

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        """The same answers as the pair model's ``predict``, by lookup."""
        return [self._answer(a, b) for a, b in pairs]

    def _answer(self, a: str, b: str) -> PairRisk | UnknownDrug:
        ia, ib = self.index.get(a), self.index.get(b)
        if ia is None or ib is None:
            return UnknownDrug(a, b, tuple(d for d, i in ((a, ia), (b, ib)) if i is None))
        risk = float(self.risk[ia, ib])
        if ia == ib or np.isnan(risk):
            return UnknownDrug(a, b, (), reason="same_drug" if ia == ib else "not_scored")
        types = tuple(
            TypeScore(self.types[t], float(p))
            for t, p in zip(self.top_types[ia, ib], self.top_probabilities[ia, ib], strict=True)
            if t >= 0
        )
        return PairRisk(a, b, risk, types)


@functools.lru_cache(maxsize=64)
def _upper_triangle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(i, j)``, ``i < j``, of ``n`` items in ``combinations(range(n), 2)`` order."""
    first, second = np.triu_indices(n, 1)
    first.flags.writeable = second.flags.writeable = False  # shared between requests
    return first, second


def tabulate(predictor: PairRiskPredictor, drugs: Sequence[str]) -> PairRiskTable:
    """Score every unordered pair of ``drugs`` with ``predictor`` once.

    Raises:
        ArtifactError: more than :data:`MAX_DRUGS` drugs, or the predictor answered a pair of
            its own vocabulary with a different pair.
    """
    drugs = tuple(drugs)
    n = len(drugs)
    if n > MAX_DRUGS:
        raise ArtifactError(f"pair-risk vocabulary has {n} drugs; at most {MAX_DRUGS} are served")
    risk = np.full((n, n), np.nan)
    scored: dict[tuple[int, int], tuple[TypeScore, ...]] = {}
    pairs = itertools.combinations(range(n), 2)
    while chunk := list(itertools.islice(pairs, _CHUNK)):
        answers = predictor.predict([(drugs[i], drugs[j]) for i, j in chunk])
        for (i, j), answer in zip(chunk, answers, strict=True):
            if (answer.atc3_a, answer.atc3_b) != (drugs[i], drugs[j]):
                raise ArtifactError("pair-risk model answered a different pair than asked")
            if isinstance(answer, PairRisk):
                risk[i, j] = risk[j, i] = answer.risk
                scored[(i, j)] = answer.top_types
    return _with_types(drugs, risk, scored)


def _with_types(
    drugs: tuple[str, ...],
    risk: np.ndarray,
    scored: dict[tuple[int, int], tuple[TypeScore, ...]],
) -> PairRiskTable:
    types = sorted({t.type for top in scored.values() for t in top})
    type_index = {t: k for k, t in enumerate(types)}
    k = max((len(top) for top in scored.values()), default=0)
    n = len(drugs)
    top_types = np.full((n, n, k), -1, dtype=np.int16)
    top_probabilities = np.zeros((n, n, k), dtype=np.float32)
    for (i, j), top in scored.items():
        for slot, t in enumerate(top):
            top_types[i, j, slot] = top_types[j, i, slot] = type_index[t.type]
            top_probabilities[i, j, slot] = top_probabilities[j, i, slot] = t.probability
    return PairRiskTable(drugs, tuple(types), risk, top_types, top_probabilities)
