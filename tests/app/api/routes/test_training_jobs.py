"""The training-jobs API: submit, read, list, cancel; limits, refusals; a real job on PostgreSQL."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.admin import create_key, upgrade_db
from app.api.problems import PROBLEM_JSON
from app.inference.registry import ModelRegistry
from app.main import create_app
from app.settings import Settings
from tests.app.conftest import inject
from tests.app.jobs.databases import fresh_database

URL = "/v1/training-jobs"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


EXPORT = _zip({"ADMISSIONS.csv": b"SUBJECT_ID,HADM_ID,ADMITTIME\n", "ddi.csv": b"atc3_a,atc3_b\n"})


def _client(
    settings: Settings, session: Session, registry: ModelRegistry, **update: object
) -> Iterator[TestClient]:
    app: FastAPI = inject(create_app(settings.model_copy(update=update)), session, registry)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def jobs(
    settings: Settings, session: Session, registry: ModelRegistry, home: Path
) -> Iterator[TestClient]:
    yield from _client(settings, session, registry, home=home, max_active_jobs=1)


def _submit(client: TestClient, headers: dict[str, str], data: bytes = EXPORT, **form: str):  # type: ignore[no-untyped-def]
    files = {"file": ("export.zip", data, "application/zip")}
    return client.post(URL, headers=headers, files=files, data={"format": "mimic3", **form})


def test_submit_read_list_cancel(jobs: TestClient, admin: dict[str, str], home: Path) -> None:
    created = _submit(jobs, admin, epochs="2", reader=["top_diagnoses=100"])
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["state"], job["format"], job["model"], job["progress"]) == (
        "queued",
        "mimic3",
        "gamenet",
        0.0,
    )
    assert job["params"]["epochs"] == 2 and job["params"]["reader"] == {"top_diagnoses": 100}
    assert (home / "jobs" / job["id"].replace("-", "") / "input" / "ADMISSIONS.csv").is_file()
    got = jobs.get(f"{URL}/{job['id']}", headers=admin).json()
    assert got["id"] == job["id"] and got["result_model_version"] is None
    assert [j["id"] for j in jobs.get(URL, headers=admin).json()["data"]] == [job["id"]]
    cancelled = jobs.post(f"{URL}/{job['id']}/cancel", headers=admin).json()
    assert cancelled["state"] == "cancelled"
    assert jobs.get(f"{URL}/00000000-0000-0000-0000-000000000000", headers=admin).status_code == 404


def test_bad_reader_options_are_422_at_the_field(jobs: TestClient, admin: dict[str, str]) -> None:
    """Found by schemathesis: 33 options, or a value of the wrong type, answered 500."""
    many = [f"option_{i}=1" for i in range(33)]
    for reader in (many, ["min_visits=[1, 2]"], ["{}"], ["not an option"]):
        refused = _submit(jobs, admin, reader=reader)  # type: ignore[arg-type]
        assert refused.status_code == 422, (reader, refused.text)
        assert {tuple(e["loc"][:2]) for e in refused.json()["errors"]} == {("body", "reader")}
    assert jobs.get(URL, headers=admin).json()["count"] == 0


def test_a_gbert_job_takes_the_epochs_of_its_stages(
    jobs: TestClient, admin: dict[str, str]
) -> None:
    created = _submit(jobs, admin, model="gbert", epochs="3", pretrain_epochs="4", dha_epochs="2")
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["model"] == "gbert"
    assert {k: job["params"][k] for k in ("epochs", "pretrain_epochs", "dha_epochs")} == {
        "epochs": 3,
        "pretrain_epochs": 4,
        "dha_epochs": 2,
    }


def _errors(answer: Any) -> list[tuple[tuple[str, ...], str]]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    return [(tuple(e["loc"]), e["msg"]) for e in answer.json()["errors"]]


def test_a_model_without_a_job_trainer_is_refused_at_model(
    jobs: TestClient, admin: dict[str, str]
) -> None:
    for answer in (
        _submit(jobs, admin, model="genn"),
        jobs.post(
            f"{URL}/import",
            headers=admin,
            json={"source_path": "x", "format": "mimic3", "model": "genn"},
        ),
    ):
        [(loc, _)] = _errors(answer)
        assert loc == ("body", "model")
    assert jobs.get(URL, headers=admin).json()["count"] == 0


def test_a_job_id_that_is_not_a_uuid_is_not_a_route(
    jobs: TestClient, admin: dict[str, str]
) -> None:
    """``GET /import`` is an undeclared method (405), not an invalid job id (422)."""
    wrong_method = jobs.get(f"{URL}/import", headers=admin)
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
    assert jobs.get(f"{URL}/not-a-job", headers=admin).status_code == 404
    upper = "ABCDEF00-0000-0000-0000-000000000000"
    assert jobs.get(f"{URL}/{upper}", headers=admin).status_code == 404  # parsed, not found


def test_clinicians_cannot_train(jobs: TestClient, clinician: dict[str, str]) -> None:
    assert _submit(jobs, clinician).status_code == 403
    assert jobs.get(URL, headers=clinician).status_code == 403


def test_too_many_jobs_is_429(jobs: TestClient, admin: dict[str, str]) -> None:
    assert _submit(jobs, admin).status_code == 202
    refused = _submit(jobs, admin)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert "limit is 1" in refused.json()["detail"]


def test_zip_slip_and_zip_bomb_are_refused_and_leave_nothing(
    settings: Settings, session: Session, registry: ModelRegistry, admin: dict[str, str], home: Path
) -> None:
    for client in _client(settings, session, registry, home=home, max_extracted_bytes=100_000):
        slip = _submit(client, admin, _zip({"ok.csv": b"1", "../../evil.csv": b"x"}))
        assert slip.status_code == 422 and "escapes" in slip.json()["detail"]
        bomb = _submit(client, admin, _zip({"zeros.csv": b"0" * 1_000_000}))
        assert bomb.status_code == 422 and "inflates past" in bomb.json()["detail"]
        assert client.get(URL, headers=admin).json()["count"] == 0
    assert list((home / "jobs").iterdir()) == []
    assert not (home.parent / "evil.csv").exists()


def test_uploads_over_the_limit_are_refused_while_streaming(
    settings: Settings, session: Session, registry: ModelRegistry, admin: dict[str, str], home: Path
) -> None:
    for client in _client(settings, session, registry, home=home, max_upload_bytes=4096):
        assert _submit(client, admin, b"x" * 10_000).status_code == 413  # by Content-Length
        boundary = "medrecboundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="format"\r\n\r\nmimic3\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + b"x" * 10_000
            + f"\r\n--{boundary}--\r\n".encode()
        )

        def chunks(body: bytes = body) -> Iterator[bytes]:  # no Content-Length: counted
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        headers = {**admin, "content-type": f"multipart/form-data; boundary={boundary}"}
        refused = client.post(URL, headers=headers, content=chunks())
        assert refused.status_code == 413 and refused.headers["content-type"] == PROBLEM_JSON
        assert client.get(URL, headers=admin).json()["count"] == 0


def test_source_path_only_under_the_import_dir(
    settings: Settings,
    session: Session,
    registry: ModelRegistry,
    admin: dict[str, str],
    home: Path,
    tmp_path: Path,
) -> None:
    imports = tmp_path / "imports"
    (imports / "demo").mkdir(parents=True)
    body = {"source_path": "demo", "format": "mimic3", "params": {"epochs": 1}}
    for client in _client(settings, session, registry, home=home):
        assert client.post(f"{URL}/import", headers=admin, json=body).status_code == 403
    for client in _client(settings, session, registry, home=home, import_dir=imports):
        ok = client.post(f"{URL}/import", headers=admin, json=body)
        assert ok.status_code == 202, ok.text
        for path, status in (("../", 403), ("/etc", 403), ("missing", 404)):
            answer = client.post(f"{URL}/import", headers=admin, json={**body, "source_path": path})
            assert answer.status_code == status, path


@pytest.mark.slow
def test_a_job_runs_end_to_end_over_the_api_on_postgresql(
    settings: Settings, tmp_path: Path
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the end-to-end job runs on PostgreSQL (the SQLite path is the crash test's)")
    from training.data.synth import SynthConfig, write_mimic3_export

    export = tmp_path / "export"
    write_mimic3_export(SynthConfig(patients=50, seed=3), export)
    data = _zip({p.name: p.read_bytes() for p in export.iterdir()})
    with fresh_database(settings.database_url, tmp_path) as url:
        _end_to_end(settings.model_copy(update={"database_url": url}), data, tmp_path)


def _end_to_end(settings: Settings, data: bytes, tmp_path: Path) -> None:
    upgrade_db(settings)
    live = settings.model_copy(
        update={
            "home": tmp_path / "home",
            "embedded_worker": True,
            "job_heartbeat_seconds": 1.0,
            "job_lease_seconds": 30.0,
            "job_poll_seconds": 0.2,
        }
    )
    headers = {"X-API-Key": create_key(live, role="admin", name="e2e")}
    with TestClient(create_app(live)) as client:
        created = _submit(client, headers, data, epochs="1", split="random")
        assert created.status_code == 202, created.text
        job = _poll(client, headers, created.json()["id"], timeout=240)
        models = client.get("/v1/models/gamenet", headers=headers).json()["data"]
    assert job["state"] == "succeeded", (job["error"], job["log_tail"][-2000:])
    assert (job["progress"], job["epoch"], job["epochs"], job["attempt"]) == (100.0, 1, 1, 1)
    assert set(job["val_metrics"]) == {"jaccard", "prauc", "f1", "ddi_rate", "avg_meds"}
    assert job["log_tail"]
    assert job["result_model_version"]["version"] == 1
    report = job["comparison"]
    assert report["active"] is None and report["gate"]["activated"] is True
    assert {"jaccard", "prauc", "f1", "ddi_rate"} <= set(report["candidate"])
    assert report["dataset"]["patients"] > 0
    assert [(m["version"], m["status"]) for m in models] == [(1, "active")]


def _poll(client: TestClient, headers: dict[str, str], job_id: str, timeout: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{URL}/{job_id}", headers=headers).json()
        # A succeeded job is settled once the gate's activation has been tried.
        pending = job["state"] == "succeeded" and job["comparison"]["gate"]["activated"] is None
        if (job["state"] not in ("queued", "running") and not pending) or (
            time.monotonic() > deadline
        ):
            return job  # type: ignore[no-any-return]
        time.sleep(0.5)
