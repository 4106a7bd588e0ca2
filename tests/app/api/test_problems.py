"""Problem answers: a 405's ``Allow`` names every method of the path (found by schemathesis)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.api.problems import PROBLEM_JSON


def test_a_405_allows_every_method_of_its_path(
    client: TestClient, clinician: dict[str, str]
) -> None:
    for path, allowed in (
        ("/v1/interactions", "GET, POST"),  # two routes on one path
        ("/v1/models", "GET, POST"),
        ("/v1/recommendations", "POST"),
        ("/healthz", "GET"),
    ):
        answer = client.request("OPTIONS", path, headers=clinician)
        assert (answer.status_code, answer.headers["allow"]) == (405, allowed), path
        assert answer.headers["content-type"] == PROBLEM_JSON
