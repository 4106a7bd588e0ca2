from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.errors import ConflictError
from app.inference.registry import ModelRegistry
from app.services.models import activate_version, load_active, register_artifact
from tests.app.factories import write_recommender_artifact


def test_load_active_follows_the_table_and_reports_broken_artifacts(
    session: Session, tmp_path: Path
) -> None:
    write_recommender_artifact(tmp_path / "g", name="gbert", version=41)
    write_recommender_artifact(tmp_path / "n", name="gamenet", version=42)
    register_artifact(session=session, path=tmp_path / "g")
    register_artifact(session=session, path=tmp_path / "n")
    with pytest.raises(ConflictError):
        register_artifact(session=session, path=tmp_path / "g")
    writer = ModelRegistry()  # another worker activates
    activate_version(session=session, registry=writer, name="gbert", version=41)
    activate_version(session=session, registry=writer, name="gamenet", version=42)
    (tmp_path / "n" / "model.onnx").write_bytes(b"broken")
    follower = ModelRegistry()
    errors = load_active(session=session, registry=follower)
    assert follower.get("gbert").version == 41
    assert follower.find("gamenet") is None
    assert len(errors) == 1 and "gamenet v42" in errors[0] and "sha256" in errors[0]
    assert load_active(session=session, registry=follower) == []  # gamenet waits its back-off
