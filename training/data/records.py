"""The canonical EHR record: a patient is an ordered list of visits.

Every reader (MIMIC-III, MIMIC-IV, OMOP, Synthea, FHIR, literature JSON) produces these, and every
trainer consumes them. They are frozen dataclasses that serialise to one JSON line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Code:
    """A diagnosis or procedure code with its system, e.g. ``Code("icd9cm", "4019")``."""

    system: str
    code: str

    def to_json(self) -> list[str]:
        """Return the ``[system, code]`` pair used on disk and in manifests."""
        return [self.system, self.code]


@dataclass(frozen=True)
class Visit:
    """One admission: its codes and the ATC3 medication classes given during it.

    Attributes:
        visit_id: the source's admission id (kept for the data report, never served).
        time: ISO-8601 admission time, or ``None`` when the source has none (literature JSON).
        diagnoses: distinct diagnosis codes, in source order.
        procedures: distinct procedure codes, in source order.
        medications: distinct ATC3 classes, sorted.
    """

    visit_id: str
    time: str | None
    diagnoses: tuple[Code, ...]
    procedures: tuple[Code, ...]
    medications: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form of this visit."""
        return {
            "visit_id": self.visit_id,
            "time": self.time,
            "diagnoses": [c.to_json() for c in self.diagnoses],
            "procedures": [c.to_json() for c in self.procedures],
            "medications": list(self.medications),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Visit:
        """Build a visit from its JSON form."""
        return cls(
            visit_id=str(obj["visit_id"]),
            time=obj.get("time"),
            diagnoses=tuple(Code(s, c) for s, c in obj["diagnoses"]),
            procedures=tuple(Code(s, c) for s, c in obj["procedures"]),
            medications=tuple(obj["medications"]),
        )


@dataclass(frozen=True)
class Patient:
    """A patient and their visits in time order."""

    patient_id: str
    visits: tuple[Visit, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form of this patient (one line of a dataset file)."""
        return {"patient_id": self.patient_id, "visits": [v.to_json() for v in self.visits]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Patient:
        """Build a patient from its JSON form."""
        return cls(str(obj["patient_id"]), tuple(Visit.from_json(v) for v in obj["visits"]))
