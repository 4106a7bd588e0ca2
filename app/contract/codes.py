"""Clinical code systems and the normalisation every reader and the service apply.

Codes are stored as MIMIC stores them: no dots, no spaces, upper case. Medications are ATC level-3
classes: the first four characters of any ATC code of level 3 or deeper.
"""

from __future__ import annotations

import re
from enum import StrEnum


class CodeSystem(StrEnum):
    """The code systems a visit's diagnoses and procedures may use."""

    ICD9CM = "icd9cm"
    ICD10CM = "icd10cm"
    ICD9PROC = "icd9proc"
    ICD10PCS = "icd10pcs"


DIAGNOSIS_SYSTEMS = frozenset({CodeSystem.ICD9CM, CodeSystem.ICD10CM})
PROCEDURE_SYSTEMS = frozenset({CodeSystem.ICD9PROC, CodeSystem.ICD10PCS})

_CODE_CHARS = re.compile(r"^[A-Z0-9]{1,8}$")
# ATC: anatomical group letter, two digits, then letters (level 3 = 4 characters, e.g. "N02B"),
# in either case: request schemas validate with this pattern before normalising.
ATC_PATTERN = r"^[A-Za-z][0-9]{2}[A-Za-z]([A-Za-z]([0-9]{2})?)?$"
_ATC = re.compile(ATC_PATTERN)


def normalize_code(raw: str) -> str:
    """Return ``raw`` without dots or surrounding spaces, upper case.

    Raises:
        ValueError: if the result is empty or holds characters no ICD code has.

    >>> normalize_code(" 401.9 ")
    '4019'
    >>> normalize_code("e11.65")
    'E1165'
    """
    code = raw.strip().replace(".", "").upper()
    if not _CODE_CHARS.match(code):
        raise ValueError("not a valid ICD code")
    return code


def atc3(raw: str) -> str:
    """Return the ATC level-3 class of an ATC code of level 3 or deeper.

    Raises:
        ValueError: if ``raw`` is not an ATC code of level 3, 4 or 5.

    >>> atc3("N02BE01")
    'N02B'
    >>> atc3("c07a")
    'C07A'
    """
    code = raw.strip().upper()
    if not _ATC.match(code):
        raise ValueError("not an ATC code of level 3 or deeper")
    return code[:4]
