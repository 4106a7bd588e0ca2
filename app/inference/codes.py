"""Code normalisation at the service edge, the same rules ``training.data.codes`` applies.

Kept here (a dozen lines) because ``app`` must not import ``training``; a test checks both agree.
"""

from __future__ import annotations

import re

CODE_SYSTEMS = ("icd9cm", "icd10cm", "icd9proc", "icd10pcs")
DIAGNOSIS_SYSTEMS = frozenset({"icd9cm", "icd10cm"})
PROCEDURE_SYSTEMS = frozenset({"icd9proc", "icd10pcs"})

_CODE_CHARS = re.compile(r"^[A-Z0-9]{1,8}$")
# ATC: anatomical group letter, two digits, then letters (level 3 = 4 characters, e.g. "N02B").
ATC_PATTERN = r"^[A-Za-z][0-9]{2}[A-Za-z]([A-Za-z]([0-9]{2})?)?$"
_ATC = re.compile(ATC_PATTERN)


def normalize_code(raw: str) -> str | None:
    """Return ``raw`` without dots or spaces, upper case; ``None`` if no ICD code looks like it.

    >>> normalize_code(" 401.9 ")
    '4019'
    >>> normalize_code("...") is None
    True
    """
    code = raw.strip().replace(".", "").upper()
    return code if _CODE_CHARS.match(code) else None


def atc3(raw: str) -> str | None:
    """Return the ATC level-3 class of an ATC code of level ≥ 3, or ``None``.

    >>> atc3("n02be01")
    'N02B'
    """
    code = raw.strip()
    return code[:4].upper() if _ATC.match(code) else None
