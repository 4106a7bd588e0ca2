from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from app.crud import model_versions as crud
from app.inference.onnx import read_manifest
from tests.app.factories import write_recommender_artifact


def test_only_one_active_version_per_name(session: Session, tmp_path: Path) -> None:
    rows = []
    for v in (1, 2):
        write_recommender_artifact(tmp_path / f"v{v}", name="gbert", version=v, seed=v)
        m = read_manifest(tmp_path / f"v{v}")
        rows.append(
            crud.create_model_version(
                session=session, manifest=m, sha256=m.onnx_sha256, path=str(tmp_path / f"v{v}")
            )
        )
    assert rows[0].metrics == {"test": {"jaccard": {"mean": 0.42, "std": 0.01}}}
    assert rows[0].created_at.tzinfo is not None
    crud.set_active(session=session, row=rows[0])
    crud.set_active(session=session, row=rows[1])
    # Other tests may have committed gbert versions to the run's database: look at ours only.
    versions = crud.get_model_versions(session=session, name="gbert")
    assert {r.version: r.status for r in versions if r.version < 3} == {1: "inactive", 2: "active"}
    assert [r.version for r in crud.get_active_versions(session=session) if r.name == "gbert"] == [
        2
    ]
    assert crud.get_model_version(session=session, name="gbert", version=3) is None
