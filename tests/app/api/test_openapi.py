"""Property-based tests over the whole OpenAPI document, in-process (schemathesis)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.api.problems import PROBLEM_JSON

EXAMPLES = 10  # per operation: ~9 operations x 2 backends stays within a few seconds


@pytest.mark.slow
def test_whole_api_conforms_to_its_schema(app: FastAPI, admin: dict[str, str]) -> None:
    """Every operation, fuzzed with an admin key; schemathesis's default checks, 0 failures.

    Driven through hypothesis directly: schemathesis's pytest plugin does not support pytest 9.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        # A schema-valid CSV text can still be an invalid table (422), and a schema-valid code
        # system unknown to the active model's manifest (422): the schema cannot say more.
        semantic = operation.path.endswith(("/interactions/known", "/recommendations"))
        _fuzz(operation, admin, [positive_data_acceptance] if semantic else [])


def _fuzz(operation: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    check()


def test_errors_are_documented_as_problem_json(app: FastAPI) -> None:
    doc = app.openapi()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status[0] in "45":
                    assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    example = doc["components"]["schemas"]["RecommendationCreate"]["examples"][0]
    assert example["visits"][0]["diagnoses"][0]["code"] == "401.9"
