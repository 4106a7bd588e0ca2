"""Issue 16, item 8: zip handling refuses what it cannot extract, and leaves no files behind."""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.inference.registry import ModelRegistry
from app.settings import Settings
from tests.security.conftest import make_client

URL = "/v1/training-jobs"


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def jobs(
    settings: Settings, session: Session, registry: ModelRegistry, home: Path
) -> Iterator[TestClient]:
    yield from make_client(settings, session, registry, home=home, max_extracted_bytes=None)


def _submit(client: TestClient, admin: dict[str, str], data: bytes, name: str = "x.zip"):  # type: ignore[no-untyped-def]
    files = {"file": (name, data, "application/zip")}
    return client.post(URL, headers=admin, files=files, data={"format": "mimic3"})


@pytest.mark.parametrize(
    "members",
    [
        [("a", b"1"), ("a/b", b"2")],
        [("d" * 300 + "/x.csv", b"1")],
    ],
    ids=["file-then-dir", "long-dir-name"],
)
def test_unextractable_members_are_a_422(
    jobs: TestClient, admin: dict[str, str], home: Path, members: list[tuple[str, bytes]]
) -> None:
    r = _submit(jobs, admin, _zip(members))
    assert r.status_code == 422, r.text
    assert "member" in r.json()["detail"]
    assert not any((home / "jobs").iterdir())


def test_high_ratio_member_is_refused(jobs: TestClient, admin: dict[str, str], home: Path) -> None:
    bomb = _zip([("ADMISSIONS.csv", b"0" * (64 << 20))])
    assert len(bomb) < 200_000
    r = _submit(jobs, admin, bomb)
    assert r.status_code == 422 and "ratio" in r.json()["detail"]
    assert not any((home / "jobs").iterdir())


def test_random_bytes_named_zip_are_refused(jobs: TestClient, admin: dict[str, str]) -> None:
    r = _submit(jobs, admin, os.urandom(4096))
    assert r.status_code == 422 and "not a zip" in r.json()["detail"]


def test_a_cancelled_job_keeps_no_files(
    jobs: TestClient, admin: dict[str, str], home: Path
) -> None:
    r = _submit(jobs, admin, _zip([("ADMISSIONS.csv", b"SUBJECT_ID,HADM_ID,ADMITTIME\n")]))
    assert r.status_code == 202, r.text
    job_dir = home / "jobs" / uuid.UUID(r.json()["id"]).hex
    assert job_dir.is_dir()
    assert jobs.post(f"{URL}/{r.json()['id']}/cancel", headers=admin).json()["state"] == "cancelled"
    assert not job_dir.exists()


def test_orphaned_job_directories_are_swept_at_start_up(
    settings: Settings, session: Session, registry: ModelRegistry, home: Path
) -> None:
    orphan = home / "jobs" / uuid.uuid4().hex
    (orphan / "input").mkdir(parents=True)
    (orphan / "input" / "half.csv").write_bytes(b"1,2\n")
    unrelated = home / "jobs" / "notes"
    unrelated.mkdir()
    for _ in make_client(settings, session, registry, home=home, orphan_grace_seconds=0):
        assert not orphan.exists()
        assert unrelated.exists()
