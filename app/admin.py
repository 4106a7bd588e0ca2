"""Administrative actions as plain functions: the CLI, the demo and tests call these.

Each opens its own engine from ``settings`` and disposes it afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from app.crud.api_keys import create_api_key, get_api_keys, revoke_api_key, rotate_api_key
from app.crud.ddi import load_interactions
from app.crud.vocab import load_vocab
from app.db.models import ApiKey, ModelVersion
from app.db.session import begin_write, make_engine, make_sessionmaker
from app.errors import DdiFileError, NotFound, VocabFileError
from app.inference.onnx import OrtOptions
from app.inference.registry import ModelRegistry
from app.services.ddi_csv import parse_ddi_csv
from app.services.models import activate_version, register_artifact
from app.services.vocab_csv import parse_vocab_csv
from app.settings import Settings


def alembic_config(settings: Settings) -> Config:
    """The alembic config of the installed ``migrations`` package, at ``settings.database_url``.

    Built in code, not read from ``alembic.ini`` (which only the ``alembic`` developer command
    uses), so ``medrec db upgrade`` works from any install, a wheel included.
    """
    spec = importlib.util.find_spec("migrations")
    if spec is None or spec.origin is None:
        raise RuntimeError("the migrations package is not installed")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(spec.origin).parent))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = settings.database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_db(settings: Settings, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (the app never calls ``create_all``)."""
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A write session on a short-lived engine (a server may be running on the same database)."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            begin_write(session)
            yield session
    finally:
        engine.dispose()


def create_key(settings: Settings, *, role: str, name: str) -> str:
    """Create an API key and return its plaintext (shown once, stored hashed)."""
    with session_scope(settings) as session:
        _, plaintext = create_api_key(
            session=session, name=name, role=role, pepper=settings.api_key_pepper.get_secret_value()
        )
    return plaintext


def list_keys(settings: Settings) -> list[ApiKey]:
    """Every API key, oldest first."""
    with session_scope(settings) as session:
        return get_api_keys(session=session)


def revoke_key(settings: Settings, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; running workers refuse it within ``api_key_cache_seconds``.

    Raises:
        NotFound: no key has this id.
    """
    with session_scope(settings) as session:
        row = revoke_api_key(session=session, key_id=key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    return row


def rotate_key(settings: Settings, key_id: uuid.UUID) -> tuple[ApiKey, str]:
    """Revoke an active key and create its successor; return it and its plaintext (shown once).

    Raises:
        NotFound: no active key has this id.
    """
    pepper = settings.api_key_pepper.get_secret_value()
    with session_scope(settings) as session:
        rotated = rotate_api_key(session=session, key_id=key_id, pepper=pepper)
    if rotated is None:
        raise NotFound(f"no active API key {key_id}")
    return rotated


def load_ddi_file(
    settings: Settings,
    path: Path,
    *,
    source: str | None = None,
    source_version: str | None = None,
    replace: bool = False,
) -> int:
    """Load a DDI CSV into the knowledge base; return the number of pairs written.

    Raises:
        DdiFileError: naming the file, row and column at fault.
    """
    path = Path(path)
    try:
        rows = parse_ddi_csv(path.read_text(), default_source=source or path.stem)
    except DdiFileError as exc:
        raise DdiFileError(f"{path}: {exc.detail}") from None
    with session_scope(settings) as session:
        return load_interactions(
            session=session, rows=rows, source_version=source_version or path.name, replace=replace
        )


def load_vocab_file(
    settings: Settings, path: Path, *, source_version: str | None = None, replace: bool = False
) -> int:
    """Load a medication code map CSV (:mod:`app.services.vocab_csv`); return the rows written.

    Running servers serve it within ``vocab_snapshot_seconds``.

    Raises:
        VocabFileError: naming the file, row and column at fault.
    """
    path = Path(path)
    try:
        rows = parse_vocab_csv(path.read_text())
    except VocabFileError as exc:
        raise VocabFileError(f"{path}: {exc.detail}") from None
    with session_scope(settings) as session:
        return load_vocab(
            session=session, rows=rows, source_version=source_version or path.name, replace=replace
        )


def register_model(
    settings: Settings, artifact_dir: Path, *, activate: bool = False
) -> ModelVersion:
    """Register an artifact directory; with ``activate``, verify and mark it active.

    Running servers pick up the activation through their registry poll.
    """
    with session_scope(settings) as session:
        row = register_artifact(session=session, path=artifact_dir)
        if activate:
            registry = ModelRegistry(OrtOptions(settings.ort_intra_op_threads, 1))
            row = activate_version(
                session=session, registry=registry, name=row.name, version=row.version
            )
        return row
