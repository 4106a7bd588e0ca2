"""The catalog compiled into arrays, so that sampling a visit costs a few vectorised draws."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from app.contract.codes import CodeSystem
from training.data.records import Code
from training.data.synth.catalog import (
    ACUTE,
    ATC3_CLASSES,
    CHRONIC,
    DX_CHAPTERS,
    ROUTINE_MEDS,
    ROUTINE_PROCS,
    Condition,
    parse_spec,
)

CATALOG_SEED = 20_181_130  # the code tails and NDCs do not depend on the cohort seed


@dataclass(frozen=True)
class Draw:
    """Items that are each drawn independently with their own probability."""

    items: tuple[str, ...]
    probs: np.ndarray

    @classmethod
    def from_spec(cls, spec: str) -> Draw:
        """Build from a ``"code:prob ..."`` spec."""
        pairs = parse_spec(spec)
        return cls(tuple(c for c, _ in pairs), np.array([p for _, p in pairs], dtype=np.float64))

    def sample(self, rng: np.random.Generator, *, at_least_one: bool = False) -> list[str]:
        """Return the drawn items; with ``at_least_one``, the likeliest when none is drawn."""
        if not self.items:
            return []
        hit = np.flatnonzero(rng.random(len(self.items)) < self.probs)
        if hit.size == 0 and at_least_one:
            return [self.items[int(np.argmax(self.probs))]]
        return [self.items[i] for i in hit]


@dataclass(frozen=True)
class Tail:
    """A long tail of rare codes drawn by a Zipf law: realistic noise a model must ignore."""

    items: tuple[str, ...]
    cdf: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> list[str]:
        """Draw ``n`` items (with replacement)."""
        if n <= 0:
            return []
        idx = np.searchsorted(self.cdf, rng.random(n), side="right")
        return [self.items[min(int(i), len(self.items) - 1)] for i in idx]


@dataclass(frozen=True)
class CompiledCondition:
    """A condition's codes and medications as draws."""

    name: str
    weight: float
    dx: Draw
    proc: Draw
    meds: Draw
    links: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class CompiledCatalog:
    """Everything the generator samples from."""

    chronic: tuple[CompiledCondition, ...]
    acute: tuple[CompiledCondition, ...]
    acute_cdf: np.ndarray
    routine_meds: Draw
    routine_procs: Draw
    dx_tail: Tail
    proc_tail: Tail
    med_tail: Tail


def _compile(condition: Condition, names: list[str]) -> CompiledCondition:
    links = tuple((names.index(k), v) for k, v in condition.links.items())
    return CompiledCondition(
        condition.name,
        condition.weight,
        Draw.from_spec(condition.dx),
        Draw.from_spec(condition.proc),
        Draw.from_spec(condition.meds),
        links,
    )


def _zipf_tail(items: list[str], exponent: float = 1.1) -> Tail:
    weights = 1.0 / (np.arange(len(items)) + 5.0) ** exponent
    return Tail(tuple(items), np.cumsum(weights) / weights.sum())


def _dx_tail(rng: np.random.Generator, size: int, taken: set[str]) -> list[str]:
    codes: dict[str, None] = {}
    while len(codes) < size:
        prefix, lo, hi = DX_CHAPTERS[int(rng.integers(len(DX_CHAPTERS)))]
        width = 2 if prefix == "V" else 3
        code = f"{prefix}{int(rng.integers(lo, hi + 1)):0{width}d}"
        code += "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(0, 3))))
        if code not in taken and len(code) <= 5:
            codes[code] = None
    return list(codes)


def _proc_tail(rng: np.random.Generator, size: int, taken: set[str]) -> list[str]:
    codes: dict[str, None] = {}
    while len(codes) < size:
        code = f"{int(rng.integers(1, 100)):02d}{int(rng.integers(0, 100)):02d}"
        if code not in taken:
            codes[code] = None
    return list(codes)


@cache
def compiled_catalog(dx_tail_size: int = 2500, proc_tail_size: int = 300) -> CompiledCatalog:
    """Compile the catalog; the tails are drawn from a fixed seed, so they never vary."""
    rng = np.random.default_rng(CATALOG_SEED)
    chronic_names = [c.name for c in CHRONIC]
    every = CHRONIC + ACUTE
    taken_dx = {c for cond in every for c, _ in parse_spec(cond.dx)}
    taken_proc = {c for cond in every for c, _ in parse_spec(cond.proc)}
    taken_proc |= {c for c, _ in parse_spec(ROUTINE_PROCS)}
    acute_w = np.array([c.weight for c in ACUTE])
    med_order = list(ATC3_CLASSES)
    rng.shuffle(med_order)
    return CompiledCatalog(
        chronic=tuple(_compile(c, chronic_names) for c in CHRONIC),
        acute=tuple(_compile(c, chronic_names) for c in ACUTE),
        acute_cdf=np.cumsum(acute_w) / acute_w.sum(),
        routine_meds=Draw.from_spec(ROUTINE_MEDS),
        routine_procs=Draw.from_spec(ROUTINE_PROCS),
        dx_tail=_zipf_tail(_dx_tail(rng, dx_tail_size, taken_dx)),
        proc_tail=_zipf_tail(_proc_tail(rng, proc_tail_size, taken_proc)),
        med_tail=_zipf_tail(med_order, exponent=0.8),
    )


@cache
def dx_code(code: str) -> Code:
    """Return the (interned) ICD-9-CM diagnosis code."""
    return Code(CodeSystem.ICD9CM.value, code)


@cache
def proc_code(code: str) -> Code:
    """Return the (interned) ICD-9 procedure code."""
    return Code(CodeSystem.ICD9PROC.value, code)
