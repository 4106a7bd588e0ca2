"""The in-memory model registry: verified, warmed-up sessions, swapped atomically.

``prepare`` does all the risky and slow work (hash check, session, golden input, a pair-risk
model's table of every pair) without touching what is serving; ``install`` then replaces the
active entry with one reference assignment under a lock. A request holds the
:class:`LoadedModel` it started with, so it finishes on that version even if another version is
installed meanwhile. A failed ``prepare`` leaves the serving model untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.contract.manifest import Manifest
from app.errors import ActivationError, ArtifactError, ModelNotLoaded
from app.inference.onnx import OrtOptions, open_session, read_manifest
from app.inference.pair_risk import GennPairRisk, PairRiskFactory, PairRiskPredictor
from app.inference.pair_table import PairRiskTable, tabulate
from app.inference.recommender import Recommender

logger = logging.getLogger(__name__)
RECOMMENDERS = frozenset({"gamenet", "gbert", "ensemble"})


@dataclass(frozen=True)
class LoadedModel:
    """One active model version with its manifest and its predictor.

    A pair-risk model is kept as the table of its answers for every pair of its drugs
    (:mod:`app.inference.pair_table`), computed in :meth:`ModelRegistry.prepare`.
    """

    name: str
    version: int
    sha256: str
    manifest: Manifest
    recommender: Recommender | None = None
    pair_risk: PairRiskTable | None = None


class LoadBackoff:
    """When to retry loading a version that failed: after 5 s, then doubling up to 5 min.

    The registry sync runs every few seconds; without this, a broken active artifact was
    re-hashed and logged at ERROR on every sync.

    Args:
        first_seconds: the wait after the first failure.
        max_seconds: the longest wait.
        clock: monotonic time source (tests inject one).
    """

    def __init__(
        self,
        first_seconds: float = 5.0,
        max_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_seconds = first_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._waits: dict[tuple[str, int], tuple[float, float]] = {}  # -> (retry at, wait)

    def is_due(self, name: str, version: int) -> bool:
        """Whether loading ``name`` ``version`` may be tried now."""
        entry = self._waits.get((name, version))
        return entry is None or self._clock() >= entry[0]

    def failed(self, name: str, version: int) -> float:
        """Record a failure; return the wait before the next try (0.0 on the first failure)."""
        previous = self._waits.get((name, version))
        wait = self.first_seconds if previous is None else min(previous[1] * 2, self.max_seconds)
        self._waits[(name, version)] = (self._clock() + wait, wait)
        return 0.0 if previous is None else wait

    def succeeded(self, name: str, version: int) -> None:
        """Forget the failures of ``name`` ``version``."""
        self._waits.pop((name, version), None)


class ModelRegistry:
    """Active models by name.

    Args:
        options: onnxruntime thread options for every session.
        evidence_per_medication: passed to each :class:`Recommender`.
        occlusion_budget: passed to each :class:`Recommender`.
        pair_risk_factory: builds pair-risk predictors (default: :class:`GennPairRisk`).
    """

    def __init__(
        self,
        options: OrtOptions | None = None,
        *,
        evidence_per_medication: int = 3,
        occlusion_budget: int = 2_000_000,
        pair_risk_factory: PairRiskFactory = GennPairRisk,
    ) -> None:
        self.options = options or OrtOptions()
        self.evidence_per_medication = evidence_per_medication
        self.occlusion_budget = occlusion_budget
        self._pair_risk_factory = pair_risk_factory
        self._active: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self.backoff = LoadBackoff()

    def prepare(self, *, name: str, version: int, sha256: str, path: Path) -> LoadedModel:
        """Verify, open and warm up one version, without serving it yet.

        Raises:
            ActivationError: the artifact failed a check; the message says which.
        """
        try:
            manifest = read_manifest(path)
            if (manifest.name, manifest.version) != (name, version):
                raise ArtifactError("manifest name/version differ from the registry row")
            session = open_session(path, manifest, sha256, self.options)
            if name in RECOMMENDERS:
                rec = Recommender(
                    manifest,
                    session,
                    evidence_per_medication=self.evidence_per_medication,
                    occlusion_budget=self.occlusion_budget,
                )
                rec.golden_check()
                return LoadedModel(name, version, sha256, manifest, recommender=rec)
            predictor = self._pair_risk_factory(manifest, session)
            drugs = _pair_drugs(manifest)
            _golden_pairs(drugs, predictor)
            table = tabulate(predictor, drugs)
            return LoadedModel(name, version, sha256, manifest, pair_risk=table)
        except ArtifactError as exc:
            raise ActivationError(f"{name} v{version}: {exc.detail}") from exc

    def install(self, loaded: LoadedModel) -> LoadedModel | None:
        """Serve ``loaded`` from now on; return the version it replaced."""
        with self._lock:
            previous = self._active.get(loaded.name)
            self._active = {**self._active, loaded.name: loaded}
        logger.info("serving %s v%d", loaded.name, loaded.version)
        return previous

    def get(self, name: str) -> LoadedModel:
        """Return the active version of ``name``.

        Raises:
            ModelNotLoaded: if none is active in this process.
        """
        loaded = self._active.get(name)
        if loaded is None:
            raise ModelNotLoaded(f"no active version of model {name!r} is loaded")
        return loaded

    def find(self, name: str) -> LoadedModel | None:
        """Return the active version of ``name``, or ``None``."""
        return self._active.get(name)

    def snapshot(self) -> dict[str, LoadedModel]:
        """Return the active models (a consistent copy)."""
        return dict(self._active)


def _pair_drugs(manifest: Manifest) -> list[str]:
    drugs = manifest.vocab.get("drug") or next(
        (v for v in manifest.vocab.values() if len(v) >= 2), None
    )
    if drugs is None or len(drugs) < 2:
        raise ArtifactError("manifest: the pair-risk vocabulary has fewer than two drugs")
    return [str(d) for d in drugs]


def _golden_pairs(drugs: list[str], predictor: PairRiskPredictor) -> None:
    try:
        answer = predictor.predict([(drugs[0], drugs[1])])
    except Exception as exc:  # a predictor failing on its own vocabulary cannot serve
        raise ArtifactError(f"golden pair failed ({type(exc).__name__})") from exc
    if len(answer) != 1:
        raise ArtifactError("golden pair: expected one answer")
