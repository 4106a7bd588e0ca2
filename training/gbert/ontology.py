"""Code hierarchies for G-BERT's ontology embeddings, built from the code strings alone.

No network, no package data: a code's ancestors follow from its characters plus the small chapter
tables below (ICD-9-CM and ICD-10-CM chapter ranges, as published in the classifications' tables
of contents). Each hierarchy is a tree under one root:

- ICD-9-CM diagnoses: chapter range → 3-character category (``E`` codes: 4) → full code;
- ICD-9 procedures: 2-digit category → full code;
- ICD-10-CM: chapter range → 3-character category → full code;
- ICD-10-PCS: section (first character) → first 3 characters → full code;
- ATC: level 1 (1 character) → level 2 (3) → level 3 (4), positional.

Diagnoses and procedures get one tree each (roots ``dx`` and ``px``), each embedded by its own
GAT. G-BERT's GAT (Shang et al., 2019, https://arxiv.org/abs/1906.00346) runs two stages over a
tree: each node first attends to its direct children (``up_edges``, child → parent), then every
leaf attends to all its ancestors (``down_edges``, ancestor → leaf). Edges are ``[2, E]`` with
row 0 the source and row 1 the target, torch-geometric's ``source_to_target`` convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.contract.codes import CodeSystem
from training.data.records import Code

# ICD-9-CM chapters (Tabular List), inclusive 3-digit ranges; V and E are the supplementary
# classifications.
_ICD9_CHAPTERS: tuple[tuple[str, str], ...] = (
    ("001", "139"),
    ("140", "239"),
    ("240", "279"),
    ("280", "289"),
    ("290", "319"),
    ("320", "389"),
    ("390", "459"),
    ("460", "519"),
    ("520", "579"),
    ("580", "629"),
    ("630", "679"),
    ("680", "709"),
    ("710", "739"),
    ("740", "759"),
    ("760", "779"),
    ("780", "799"),
    ("800", "999"),
    ("V01", "V91"),
    ("E000", "E999"),
)
# ICD-10-CM chapters, inclusive 3-character category ranges (string order is the code order).
_ICD10_CHAPTERS: tuple[tuple[str, str], ...] = (
    ("A00", "B99"),
    ("C00", "D49"),
    ("D50", "D89"),
    ("E00", "E89"),
    ("F01", "F99"),
    ("G00", "G99"),
    ("H00", "H59"),
    ("H60", "H95"),
    ("I00", "I99"),
    ("J00", "J99"),
    ("K00", "K95"),
    ("L00", "L99"),
    ("M00", "M99"),
    ("N00", "N99"),
    ("O00", "O9A"),
    ("P00", "P96"),
    ("Q00", "Q99"),
    ("R00", "R99"),
    ("S00", "T88"),
    ("U00", "U85"),
    ("V00", "Y99"),
    ("Z00", "Z99"),
)


def _chapter(category: str, table: Sequence[tuple[str, str]]) -> str:
    """Return ``"lo-hi"`` of the chapter holding ``category``, or ``"other"``."""
    for lo, hi in table:
        if len(lo) == len(category) and lo <= category <= hi:
            return f"{lo}-{hi}"
    return "other"


def code_path(code: Code) -> list[str]:
    """Return the node names from ``code``'s root down to the code itself.

    Names carry a level prefix so that a category and a code spelled alike stay distinct nodes.

    >>> code_path(Code("icd9cm", "4019"))
    ['icd9cm', 'icd9cm:ch:390-459', 'icd9cm:cat:401', 'icd9cm:4019']
    >>> code_path(Code("icd9cm", "E8889"))[1:3]
    ['icd9cm:ch:E000-E999', 'icd9cm:cat:E888']
    >>> code_path(Code("icd10cm", "E1165"))[1:3]
    ['icd10cm:ch:E00-E89', 'icd10cm:cat:E11']
    """
    system, c = code.system, code.code
    if system == CodeSystem.ICD9CM:
        cat = c[:4] if c.startswith("E") else c[:3]
        levels = [f"ch:{_chapter(cat, _ICD9_CHAPTERS)}", f"cat:{cat}"]
    elif system == CodeSystem.ICD10CM:
        levels = [f"ch:{_chapter(c[:3], _ICD10_CHAPTERS)}", f"cat:{c[:3]}"]
    elif system == CodeSystem.ICD9PROC:
        levels = [f"cat:{c[:2]}"]
    elif system == CodeSystem.ICD10PCS:
        levels = [f"sec:{c[:1]}", f"cat:{c[:3]}"]
    else:
        raise ValueError(f"code_path: unknown code system {system!r}")
    return [system, *(f"{system}:{level}" for level in levels), f"{system}:{c}"]


def atc_path(atc3: str) -> list[str]:
    """Return the node names from the ATC root down to the ATC level-3 class ``atc3``.

    >>> atc_path("N02B")
    ['atc', 'atc:N', 'atc:N02', 'atc:N02B']
    """
    return ["atc", f"atc:{atc3[:1]}", f"atc:{atc3[:3]}", f"atc:{atc3[:4]}"]


@dataclass(frozen=True)
class Hierarchy:
    """A code tree ready for the two-stage GAT.

    Attributes:
        nodes: node names; leaves (the vocabulary's codes) and their ancestors.
        leaf_index: ``[K]`` node index of each vocabulary token, in vocabulary order.
        up_edges: ``[2, E1]`` child → parent edges (stage one).
        down_edges: ``[2, E2]`` ancestor → leaf edges (stage two).
    """

    nodes: tuple[str, ...]
    leaf_index: np.ndarray
    up_edges: np.ndarray
    down_edges: np.ndarray


def build_hierarchy(paths: Sequence[list[str]]) -> Hierarchy:
    """Build a :class:`Hierarchy` from one root-to-leaf path per vocabulary token.

    Raises:
        ValueError: if two tokens share a leaf node.
    """
    index: dict[str, int] = {}
    up: set[tuple[int, int]] = set()
    down: set[tuple[int, int]] = set()
    leaves: list[int] = []
    for path in paths:
        ids = [index.setdefault(name, len(index)) for name in path]
        up.update((child, parent) for parent, child in zip(ids, ids[1:], strict=False))
        down.update((ancestor, ids[-1]) for ancestor in ids[:-1])
        leaves.append(ids[-1])
    if len(set(leaves)) != len(leaves):
        raise ValueError("build_hierarchy: two vocabulary tokens map to the same leaf")
    return Hierarchy(
        nodes=tuple(index),
        leaf_index=np.asarray(leaves, dtype=np.int64),
        up_edges=_edges(up),
        down_edges=_edges(down),
    )


def _edges(pairs: set[tuple[int, int]]) -> np.ndarray:
    """Return sorted ``(source, target)`` pairs as a ``[2, E]`` int64 array."""
    return np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2).T.copy()


def diagnosis_hierarchy(codes: Sequence[Code]) -> Hierarchy:
    """Return the hierarchy over diagnosis vocabulary ``codes`` (any mix of ICD systems)."""
    return build_hierarchy([["dx", *code_path(c)] for c in codes])


def procedure_hierarchy(codes: Sequence[Code]) -> Hierarchy:
    """Return the hierarchy over procedure vocabulary ``codes`` (ICD-9 procedures, ICD-10-PCS)."""
    return build_hierarchy([["px", *code_path(c)] for c in codes])


def medication_hierarchy(atc3_codes: Sequence[str]) -> Hierarchy:
    """Return the ATC hierarchy over the medication vocabulary ``atc3_codes``."""
    return build_hierarchy([atc_path(m) for m in atc3_codes])
