"""The recommender: raw visits in, ranked ATC3 medications with evidence out, via onnxruntime.

Feeds are built by the input roles of ``app.contract.manifest`` (a model declares the roles it
uses), so GAMENet and G-BERT artifacts are served by the same code.

Evidence is computed by **occlusion** (leave one code out): for each known code of the current
(last) visit, a copy of the input with that code masked out (mask 0, id 0) is scored. A code's
contribution to medication ``m`` is ``p_full[m] - p_without_code[m]``; the codes with the largest
positive contributions are the evidence. All copies plus the unmodified input go to onnxruntime as
one batch (chunked only when ``occlusion_budget`` ids would be exceeded), so evidence costs one
extra model call, not one per code. Past visits are not occluded: their influence reaches the
prediction through the patient's history and is not attributed to single codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from app.contract.codes import atc3, normalize_code
from app.contract.manifest import Manifest
from app.contract.visits import RawVisit
from app.errors import ArtifactError

CodeField = str  # "diagnoses" | "procedures" | "medications"


def _or_none(normalise: Callable[[str], str], raw: str) -> str | None:
    """``normalise(raw)``, or ``None`` where the contract refuses ``raw``."""
    try:
        return normalise(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class UnknownCode:
    """An input code the model cannot use, with a machine-readable reason."""

    visit: int
    field: CodeField
    index: int
    code: str
    system: str | None
    reason: str


# Evidence and ScoredMedication are made per request (some 50 an answer), so they are not
# frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, 4x the
# cost, and these cost more than the model call's input encoding. Nothing hashes them.
# Evidence has no __slots__: orjson writes the answer's evidence from each instance's __dict__,
# and a slotted one took it 6x as long (39 of them: 18 us against 3; __init__ 110 ns vs 122).
@dataclass
class Evidence:
    """A current-visit code and how much removing it lowers the medication's probability."""

    field: CodeField
    system: str
    code: str
    contribution: float


@dataclass(slots=True)
class ScoredMedication:
    """One recommended ATC3 class."""

    atc3: str
    probability: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Recommendation:
    """The model's answer for one patient."""

    medications: list[ScoredMedication]
    unknown_codes: list[UnknownCode]
    warnings: list[str]
    threshold: float


@dataclass
class _Encoded:
    diag: list[list[int]] = field(default_factory=list)
    proc: list[list[int]] = field(default_factory=list)
    meds: list[list[int]] = field(default_factory=list)
    # (field, column, system, code) of the last visit's known codes, the occlusion targets.
    targets: list[tuple[CodeField, int, str, str]] = field(default_factory=list)
    unknown: list[UnknownCode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Recommender:
    """Scores medications for a patient with one onnxruntime session.

    Args:
        manifest: the artifact's validated manifest (vocabularies, roles, threshold).
        session: the verified onnxruntime session of ``model.onnx``.
        evidence_per_medication: evidence codes kept per recommended medication.
        occlusion_budget: most ids fed to onnxruntime per call when scoring occluded copies.
    """

    def __init__(
        self,
        manifest: Manifest,
        session: ort.InferenceSession,
        *,
        evidence_per_medication: int = 3,
        occlusion_budget: int = 2_000_000,
    ) -> None:
        self.manifest = manifest
        self.session = session
        self.evidence_per_medication = evidence_per_medication
        self.occlusion_budget = occlusion_budget
        self.diag_index = {(s, c): i for i, (s, c) in enumerate(manifest.vocab.get("diag", []))}
        self.proc_index = {(s, c): i for i, (s, c) in enumerate(manifest.vocab.get("proc", []))}
        # (system, code as sent) -> (column, code) for codes in the vocabulary, as first met:
        # normalising every code anew cost more than the model call. Bounded, and filled
        # only with spellings of vocabulary codes.
        self._spellings: dict[CodeField, dict[tuple[str, str], tuple[int, str]]] = {
            "diagnoses": {},
            "procedures": {},
        }
        self._max_spellings = 4 * (len(self.diag_index) + len(self.proc_index)) + 1024
        self.meds: list[str] = list(manifest.vocab.get("med", []))
        self.med_index = {m: i for i, m in enumerate(self.meds)}
        self.roles = {t.role: t.name for t in manifest.inputs}
        outputs = [t.name for t in manifest.outputs if t.role == "probabilities"]
        if not outputs or not self.meds or "diag_ids" not in self.roles:
            raise ArtifactError("manifest: a recommender needs diag inputs, meds and probabilities")
        self.output = outputs[0]
        self.batch_is_dynamic = all(isinstance(t.shape[0], str) for t in manifest.inputs)
        self.systems = {  # the code systems of each field in the vocabulary
            "diagnoses": {s for s, _ in self.diag_index},
            "procedures": {s for s, _ in self.proc_index},
        }

    def recommend(
        self,
        visits: Sequence[RawVisit],
        *,
        threshold: float | None = None,
        top_k: int | None = None,
    ) -> Recommendation:
        """Rank the medications for the patient's last visit (the first visit is the oldest)."""
        enc = self.encode(visits)
        occlusions: list[int | None] = [None, *range(len(enc.targets))]
        k = self.evidence_per_medication
        probs = self._score(enc, occlusions if k else [None])
        full = probs[0]
        cut = self.manifest.threshold if threshold is None else threshold
        kept = np.flatnonzero(full >= cut)
        order = kept[np.argsort(-full[kept], kind="stable")][:top_k]  # [n], best first
        # Whole-array work, then plain floats: a Python loop over numpy scalars cost more than
        # the model call.
        evidence: list[tuple[Evidence, ...]] = [()] * len(order)
        if k and enc.targets and len(order):
            drops = full[order] - probs[1:, order]  # [T, n]
            best = np.argsort(-drops, axis=0, kind="stable")[:k]  # [k, n]
            best_drops = np.take_along_axis(drops, best, axis=0)  # [k, n]
            labels = [(fld, system, code) for fld, _, system, code in enc.targets]
            evidence = [
                # Contributions are reported to 6 decimals: a smaller drop is rounding noise
                # (it was listed as evidence with a contribution of 0.0). Lists, not
                # generators, inside: a generator per medication cost a third of this step.
                tuple([
                    Evidence(labels[j][0], labels[j][1], labels[j][2], c)
                    for j, c in zip(rows, [round(d, 6) for d in values], strict=True)
                    if c > 0
                ])
                for rows, values in zip(best.T.tolist(), best_drops.T.tolist(), strict=True)
            ]  # fmt: skip
        meds = [
            ScoredMedication(self.meds[m], round(p, 6), ev)
            for m, p, ev in zip(order.tolist(), full[order].tolist(), evidence, strict=True)
        ]
        if not meds:
            enc.warnings.append("no medication reached the threshold")
        return Recommendation(meds, enc.unknown, enc.warnings, cut)

    def encode(self, visits: Sequence[RawVisit]) -> _Encoded:
        """Map raw codes to vocabulary ids, listing every code that cannot be used and why."""
        enc = _Encoded()
        last = len(visits) - 1
        for v, visit in enumerate(visits):
            enc.diag.append(self._codes(enc, v, "diagnoses", visit.diagnoses, v == last))
            enc.proc.append(self._codes(enc, v, "procedures", visit.procedures, v == last))
            enc.meds.append(self._medications(enc, v, visit.medications, v == last))
        if not enc.targets:
            enc.warnings.append("the last visit has no code the model knows; scores are priors")
        if "proc_ids" not in self.roles and any(v.procedures for v in visits):
            enc.warnings.append("this model does not use procedures; they were ignored")
        return enc

    def _codes(
        self, enc: _Encoded, v: int, fld: CodeField, codes: Sequence[tuple[str, str]], last: bool
    ) -> list[int]:
        index = self.diag_index if fld == "diagnoses" else self.proc_index
        used = fld == "diagnoses" or "proc_ids" in self.roles
        spellings = self._spellings[fld]
        known: dict[int, tuple[str, str]] = {}
        for j, sent in enumerate(codes):
            hit = spellings.get(sent)
            if hit is not None:
                known.setdefault(hit[0], (sent[0], hit[1]))
                continue
            system, raw = sent
            code = _or_none(normalize_code, raw)
            reason = None
            if code is None:
                reason = "malformed_code"
            elif not used:
                reason = "input_not_used_by_model"
            elif system not in self.systems[fld]:
                reason = "system_not_in_model_vocabulary"
            elif (system, code) not in index:
                reason = "not_in_model_vocabulary"
            if reason is not None:
                enc.unknown.append(UnknownCode(v, fld, j, code or raw.strip(), system, reason))
                continue
            assert code is not None
            column = index[(system, code)]
            known.setdefault(column, (system, code))
            if len(spellings) < self._max_spellings:
                spellings[(system, raw)] = (column, code)
        # In vocabulary order, not the client's: the same codes give the same feeds, so the
        # same floating-point sums and the same answer (a shuffle changed the 6th decimal).
        ids = sorted(known)
        if last:
            enc.targets += [(fld, column, *known[i]) for column, i in enumerate(ids)]
        return ids

    def _medications(self, enc: _Encoded, v: int, meds: Sequence[str], last: bool) -> list[int]:
        if last:
            if meds:
                enc.warnings.append("medications of the last visit are ignored (it is predicted)")
            return []
        ids: list[int] = []
        for j, raw in enumerate(meds):
            code = _or_none(atc3, raw)
            if code is None or code not in self.med_index:
                reason = "malformed_code" if code is None else "not_in_model_vocabulary"
                enc.unknown.append(UnknownCode(v, "medications", j, code or raw, None, reason))
            elif self.med_index[code] not in ids:
                ids.append(self.med_index[code])
        return sorted(ids)  # vocabulary order, as the codes: the same meds give the same feeds

    def _score(self, enc: _Encoded, occlusions: Sequence[int | None]) -> np.ndarray:
        """Return probabilities ``[len(occlusions), M]``; ``None`` is the unmodified input."""
        base = self._base_feeds(enc)
        per_copy = sum(int(a.size) for a in base.values())
        chunk = max(1, self.occlusion_budget // per_copy) if self.batch_is_dynamic else 1
        out = []
        for start in range(0, len(occlusions), chunk):
            part = occlusions[start : start + chunk]
            feeds = {n: np.repeat(a, len(part), axis=0) for n, a in base.items()}
            for b, target in enumerate(part):
                if target is not None:
                    self._occlude(feeds, b, enc.targets[target], len(enc.diag) - 1)
            out.append(self.session.run([self.output], feeds)[0])
        return np.concatenate(out, axis=0)

    def _occlude(
        self, feeds: dict[str, np.ndarray], b: int, target: tuple[CodeField, int, str, str], v: int
    ) -> None:
        prefix = "diag" if target[0] == "diagnoses" else "proc"
        feeds[self.roles[f"{prefix}_ids"]][b, v, target[1]] = 0  # type: ignore[index]
        feeds[self.roles[f"{prefix}_mask"]][b, v, target[1]] = 0.0  # type: ignore[index]

    def _base_feeds(self, enc: _Encoded) -> dict[str, np.ndarray]:
        """One patient's feeds, ``[1, V, ...]``, for the roles this model declares."""
        n_visits = len(enc.diag)
        arrays: dict[str, np.ndarray] = {}
        for prefix, rows in (("diag", enc.diag), ("proc", enc.proc), ("med", enc.meds)):
            width = max(1, *(len(r) for r in rows))
            ids = np.zeros((1, n_visits, width), dtype=np.int64)
            mask = np.zeros((1, n_visits, width), dtype=np.float32)
            for v, row in enumerate(rows):
                ids[0, v, : len(row)] = row
                mask[0, v, : len(row)] = 1.0
            arrays[f"{prefix}_ids"], arrays[f"{prefix}_mask"] = ids, mask
        history = np.zeros((1, n_visits, len(self.meds)), dtype=np.float32)
        for v, row in enumerate(enc.meds):
            history[0, v, row] = 1.0
        arrays["med_history"] = history
        arrays["visit_mask"] = np.ones((1, n_visits), dtype=np.float32)
        return {name: arrays[role] for role, name in self.roles.items() if role in arrays}

    def golden_check(self) -> None:
        """Score a fixed two-patient input; raise ``ArtifactError`` unless the output is sane."""
        first_diag = next(iter(self.diag_index), None)
        if first_diag is None:
            raise ArtifactError("manifest: the diagnosis vocabulary is empty")
        enc = self.encode([RawVisit(diagnoses=[first_diag])])
        try:
            probs = self._score(enc, [None, 0])
        except Exception as exc:  # any onnxruntime failure means the artifact cannot serve
            raise ArtifactError(
                f"golden input failed in onnxruntime ({type(exc).__name__})"
            ) from exc
        if probs.shape != (2, len(self.meds)) or not np.all(np.isfinite(probs)):
            raise ArtifactError("golden input: output shape or values are wrong")
        if probs.min() < 0.0 or probs.max() > 1.0:
            raise ArtifactError("golden input: probabilities outside [0, 1]")
