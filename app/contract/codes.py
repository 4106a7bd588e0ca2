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

# ICD codes have at most 7 characters; SNOMED CT ids, which models trained on Synthea or FHIR
# exports use natively (system "snomed"), have 6 to 18 digits.
_CODE_CHARS = re.compile(r"^[A-Z0-9]{1,18}$")
MEDICATION_SYSTEMS = ("atc", "rxnorm", "ndc")
_RXCUI = re.compile(r"^[0-9]{1,12}$")
# Hyphenated FDA NDCs (4-4-2, 5-3-2, 5-4-1) become the 11-digit 5-4-2 form by zero-padding.
_NDC_HYPHENATED = re.compile(r"^([0-9]{4,5})-([0-9]{3,4})-([0-9]{1,2})$")
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
        raise ValueError("not a valid diagnosis or procedure code")
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


def normalize_medication(system: str, raw: str) -> str:
    """Return a medication code in its stored form.

    ATC upper case as given, an RXCUI as digits, an NDC as 11 digits (a hyphenated NDC is
    zero-padded to 5-4-2, as MIMIC and the FDA directory spell it).

    Raises:
        ValueError: for an unknown system or a code that system cannot have.

    >>> normalize_medication("ndc", "0002-3227-30")
    '00002322730'
    >>> normalize_medication("rxnorm", " 617314 ")
    '617314'
    """
    code = raw.strip().upper()
    if system == "atc":
        if not _ATC.match(code):
            raise ValueError("not an ATC code of level 3 or deeper")
        return code
    if system == "rxnorm":
        if not _RXCUI.match(code):
            raise ValueError("not an RxNorm concept id")
        return code
    if system == "ndc":
        parts = _NDC_HYPHENATED.match(code)
        if parts:
            code = parts[1].zfill(5) + parts[2].zfill(4) + parts[3].zfill(2)
        if len(code) != 11 or not code.isdigit():
            raise ValueError("not an 11-digit or hyphenated NDC")
        return code
    raise ValueError(f"not a medication system: one of {', '.join(MEDICATION_SYSTEMS)}")
