"""Issue 16, item 4: 8 concurrent submissions get exactly ``max_active_jobs`` 202s, the rest 429.

On both databases, with real commits (the job fixtures' own database) and the app's own sessions.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.admin import create_key
from app.main import create_app
from app.settings import Settings

N = 8


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ADMISSIONS.csv", "SUBJECT_ID,HADM_ID,ADMITTIME\n")
    return buf.getvalue()


@pytest.fixture
def service(job_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = job_settings.model_copy(update={"max_active_jobs": 2})
    key = create_key(settings, role="admin", name="concurrency")
    with TestClient(create_app(settings)) as client:
        yield client, {"X-API-Key": key}


def _status_codes(submit: Callable[[int], int]) -> list[int]:
    with ThreadPoolExecutor(N) as pool:
        return sorted(pool.map(submit, range(N)))


def test_concurrent_uploads(service: tuple[TestClient, dict[str, str]]) -> None:
    client, key = service
    data = _zip()

    def submit(_: int) -> int:
        files = {"file": ("export.zip", data, "application/zip")}
        r = client.post("/v1/training-jobs", headers=key, files=files, data={"format": "mimic3"})
        return r.status_code

    assert _status_codes(submit) == [202, 202] + [429] * (N - 2)


def test_concurrent_imports(job_settings: Settings) -> None:
    import_dir = job_settings.home / "imports"
    (import_dir / "export").mkdir(parents=True)
    (import_dir / "export" / "ADMISSIONS.csv").write_text("SUBJECT_ID,HADM_ID,ADMITTIME\n")
    settings = job_settings.model_copy(update={"max_active_jobs": 2, "import_dir": import_dir})
    key = {"X-API-Key": create_key(settings, role="admin", name="concurrency")}
    with TestClient(create_app(settings)) as importer:

        def submit(_: int) -> int:
            body = {"source_path": "export", "format": "mimic3"}
            return importer.post("/v1/training-jobs/import", headers=key, json=body).status_code

        assert _status_codes(submit) == [202, 202] + [429] * (N - 2)
