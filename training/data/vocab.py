"""Frozen vocabularies: the exact index maps a model is trained and served with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from training.data.records import Code, Patient

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Vocabulary(Generic[T]):
    """An immutable token ↔ index map. Index order is the order of ``tokens``."""

    tokens: tuple[T, ...]

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("Vocabulary: tokens must be distinct")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def index(self, token: T) -> int:
        """Return the index of ``token``; raises ``KeyError`` if it is not in the vocabulary."""
        return self._index[token]  # type: ignore[attr-defined, no-any-return]

    def get(self, token: T) -> int | None:
        """Return the index of ``token``, or ``None`` when it is unknown."""
        return self._index.get(token)  # type: ignore[attr-defined, no-any-return]

    @classmethod
    def from_counts(cls, tokens: Iterable[T], *, min_count: int = 1) -> Vocabulary[T]:
        """Build a vocabulary of tokens seen at least ``min_count`` times, most frequent first.

        Ties are broken by the token itself so that the order is deterministic.
        """
        counts = Counter(tokens)
        kept = [t for t, n in counts.items() if n >= min_count]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(tuple(kept))


@dataclass(frozen=True)
class Vocabularies:
    """The three vocabularies of a recommendation model."""

    diag: Vocabulary[Code]
    proc: Vocabulary[Code]
    med: Vocabulary[str]

    @classmethod
    def fit(cls, patients: Sequence[Patient]) -> Vocabularies:
        """Fit on ``patients``, which must be the training split only."""
        visits = [v for p in patients for v in p.visits]
        return cls(
            diag=Vocabulary.from_counts(c for v in visits for c in v.diagnoses),
            proc=Vocabulary.from_counts(c for v in visits for c in v.procedures),
            med=Vocabulary.from_counts(m for v in visits for m in v.medications),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the manifest form: ``{"diag": [[sys, code]...], "proc": ..., "med": [...]}``."""
        return {
            "diag": [c.to_json() for c in self.diag.tokens],
            "proc": [c.to_json() for c in self.proc.tokens],
            "med": list(self.med.tokens),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Vocabularies:
        """Build from the manifest form."""
        return cls(
            diag=Vocabulary(tuple(Code(s, c) for s, c in obj["diag"])),
            proc=Vocabulary(tuple(Code(s, c) for s, c in obj["proc"])),
            med=Vocabulary(tuple(obj["med"])),
        )
