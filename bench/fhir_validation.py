"""What validating FHIR with fhir.resources (R4B) costs, against MedRec's fast reader.

Writes a synthetic FHIR Bulk export (training.data.writers.fhir, ``--patients`` patients), then
times, in one run:

- the whole fast read (``training.data.fhir.read_fhir``: parse, filter, group, assemble);
- validating every line with its ``fhir.resources`` R4B model, and nothing else;
- building what the service sends: one ``MedicationRequest`` proposal validated, a 10-entry
  ``Bundle`` validated whole, and serialised through the models.

    OMP_NUM_THREADS=1 python bench/fhir_validation.py --patients 2000

Prints a table and writes bench/results/fhir_validation.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir.resources.R4B import get_fhir_model_class  # noqa: E402
from fhir.resources.R4B.bundle import Bundle  # noqa: E402

from app.services.fhir_output import collection, proposal, urn  # noqa: E402
from tests.training.data.ehr_factory import random_patients  # noqa: E402
from training.data.ehr_pipeline import EhrFilterConfig  # noqa: E402
from training.data.fhir import FhirConfig, read_fhir  # noqa: E402
from training.data.writers.fhir import write_fhir_export  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "fhir_validation.json"
    )
    args = parser.parse_args()
    export = Path(tempfile.mkdtemp(prefix="medrec-fhir-bench-")) / "fhir"
    write_fhir_export(random_patients(args.patients, seed=1), export)
    files = sorted(export.glob("*.ndjson"))
    start = time.perf_counter()
    read_fhir(export, FhirConfig(filters=EhrFilterConfig(top_n_diagnoses=None)))
    fast = time.perf_counter() - start
    start, n = time.perf_counter(), 0
    for path in files:
        with path.open() as fh:
            for text in fh:
                resource = json.loads(text)
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                n += 1
    validate = time.perf_counter() - start
    one = proposal("C07A", "Beta blocking agents", "p1", "probability 0.91")
    bundle = collection([(urn(), one)] * 10)
    reps = 200
    per_proposal = timeit.timeit(lambda: proposal("C07A", None, "p1", "n"), number=reps) / reps
    whole = timeit.timeit(lambda: Bundle.model_validate(bundle), number=reps) / reps
    dumped = (
        timeit.timeit(
            lambda: Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True),
            number=reps,
        )
        / reps
    )
    result = {
        "resources": n,
        "fast_read_s": fast,
        "fast_read_us_per_resource": fast / n * 1e6,
        "validate_every_line_s": validate,
        "validate_us_per_resource": validate / n * 1e6,
        "validate_over_fast_read": validate / fast,
        "proposal_built_and_validated_ms": per_proposal * 1000,
        "bundle_10_validated_ms": whole * 1000,
        "bundle_10_validated_and_dumped_ms": dumped * 1000,
    }
    for name, value in result.items():
        print(
            f"{name:<36} {value:10.2f}" if isinstance(value, float) else f"{name:<36} {value:10d}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
