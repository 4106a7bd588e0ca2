"""The whole OpenAPI document against the app, in-process: schemathesis with every check on.

Every phase schemathesis has runs (examples, coverage, fuzzing, stateful), with every built-in
check enabled: server errors, undocumented statuses, content types, response schemas and
headers, positive data accepted, negative data rejected, missing required headers, ignored
auth, undeclared methods answered 405 with an ``Allow`` naming every method of the path, and the
stateful ones. Nothing is excluded; ``max_response_time`` is the one check without a limit set
(latency is measured in ``bench/``, not asserted in a unit test).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events, from_schema

from app.api.deps import get_registry
from app.api.problems import PROBLEM_JSON
from app.contract.ddi_table import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SEVERITIES
from app.inference.registry import ModelRegistry
from app.schemas.interactions import DDI_CSV_FORMAT
from tests.app.conftest import prepare
from tests.app.factories import write_pair_risk_artifact

Failures = dict[tuple[str, str], set[str]]  # (operation, check) -> messages with a curl each
EXAMPLES = 8  # per operation and phase: ~12 operations x 2 backends in about 40 s on 2 cores


def ddi_csv() -> st.SearchStrategy[str]:
    """Valid DDI tables (``app.contract.ddi_table``): what ``format: ddi-csv`` promises.

    A header of the required columns and any of the optional ones in any order, then 1 to 5
    rows, each a pair of two different ATC3 classes with a known severity.
    """
    atc3 = st.from_regex(r"\A[A-Z][0-9]{2}[A-Z]\Z")
    text = st.text(st.sampled_from("abcdefghij -_"), min_size=1, max_size=12).filter(str.strip)
    cells = {
        "types": st.lists(text, max_size=3).map(";".join),
        "severity": st.sampled_from(SEVERITIES),
        "source": text,
    }

    @st.composite
    def table(draw: st.DrawFn) -> str:
        optional = draw(st.lists(st.sampled_from(OPTIONAL_COLUMNS), unique=True))
        columns = draw(st.permutations([*REQUIRED_COLUMNS, *optional]))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for _ in range(draw(st.integers(1, 5))):
            a, b = draw(st.lists(atc3, min_size=2, max_size=2, unique=True))
            row = {"atc3_a": a, "atc3_b": b} | {c: draw(cells[c]) for c in optional}
            writer.writerow([row[c] for c in columns])
        return out.getvalue()

    return table()


schemathesis.openapi.format(DDI_CSV_FORMAT, ddi_csv())


@pytest.fixture
def served(app: FastAPI, registry: ModelRegistry, tmp_path: Path) -> FastAPI:
    """The test app, its registry also serving a pair-risk model (predicted fields filled)."""
    write_pair_risk_artifact(tmp_path / "genn-v1")
    registry.install(prepare(registry, tmp_path / "genn-v1"))
    app.dependency_overrides[get_registry] = lambda: registry
    return app


def run_schemathesis(app: FastAPI, headers: dict[str, str]) -> tuple[Failures, set[str], Any]:
    """Run every phase with every check; return the failures, the phases run, the stop reason."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": 16,
            "headers": headers,
            "checks": {"enabled": True},
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "suppress-health-check": ["all"],
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures: Failures = {}
    phases: set[str] = set()
    stop = None
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            phases.add(event.phase.value)
            _collect(event, failures)
        elif isinstance(event, events.NonFatalError):
            failures.setdefault((str(event.label), "error"), set()).add(repr(event.value))
        elif isinstance(event, events.FatalError):
            failures.setdefault(("engine", "fatal"), set()).add(repr(event.exception))
        elif isinstance(event, events.EngineFinished):
            stop = event.stop_reason
    return failures, phases, stop


# The one semantic rule no static schema can state: a code system is valid only when the active
# model's manifest knows it (a SNOMED-trained model takes ``snomed``), so a schema-valid request
# with a random system is rightly a 422 naming that field (tests/app/api/routes: "systems").
# (Stateful-phase events carry no label, so the request itself is matched.)
SEMANTIC = ("positive_data_acceptance", "-X POST", "/v1/recommendations")


def _collect(event: events.ScenarioFinished, failures: Failures) -> None:
    for nodes in event.recorder.checks.values():
        for node in nodes:
            info = node.failure_info
            if node.status == Status.FAILURE and info is not None:
                check, method, path = SEMANTIC
                sample = info.code_sample
                if node.name == check and method in sample and path in sample:
                    continue
                found = f"{info.failure.title}: {info.failure.message}\n{info.code_sample}"
                failures.setdefault((str(event.label), node.name), set()).add(found)


@pytest.mark.slow
@pytest.mark.timeout(300)  # no engine max-time: with one, fuzzing goes on until it is spent
def test_whole_api_passes_every_check(served: FastAPI, admin: dict[str, str]) -> None:
    """Every operation, every phase and check, with an admin key: 0 failures."""
    failures, phases, stop = run_schemathesis(served, admin)
    assert stop == StopReason.COMPLETED
    assert {"examples", "coverage", "fuzzing", "stateful"} <= phases
    assert not failures, "\n\n".join(
        f"{label} [{check}]\n" + "\n".join(sorted(found)[:3])
        for (label, check), found in failures.items()
    )


def test_errors_are_documented_as_problem_json(app: FastAPI) -> None:
    doc = app.openapi()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status[0] in "45":
                    assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)
    for path, item in doc["paths"].items():
        for op in item.values() if path.startswith("/v1/") else ():
            assert {"400", "401", "403", "408", "413", "422", "429"} <= set(op["responses"])
            assert "Retry-After" in op["responses"]["429"]["headers"], path
            assert "WWW-Authenticate" in op["responses"]["401"]["headers"], path
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    example = doc["components"]["schemas"]["RecommendationCreate"]["examples"][0]
    assert example["visits"][0]["diagnoses"][0]["code"] == "401.9"
