"""Fixtures of the service tests: settings, a migrated engine per backend, per-test transactions.

Every DB test runs on SQLite and on the real PostgreSQL at 127.0.0.1:5432/test (each run in its
own schema, dropped at the end); the PostgreSQL variant skips with a message when unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.admin import upgrade_db
from app.api.deps import get_audit_queue, get_registry, get_session
from app.crud.api_keys import create_api_key
from app.crud.audit import AuditRecord, create_audit_events
from app.db.session import make_engine
from app.inference.onnx import read_manifest
from app.inference.registry import LoadedModel, ModelRegistry
from app.main import create_app
from app.services.audit_queue import AuditQueue
from app.settings import Settings
from tests.app.factories import write_recommender_artifact

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PEPPER = "test-pepper"


def _pg_schema_url(tmp_root: Path) -> Iterator[str]:
    admin_engine = sa.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
    try:
        with admin_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        admin_engine.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}; the PostgreSQL variant is skipped")
    schema = f"medrec_test_{uuid.uuid4().hex[:12]}"
    with admin_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.db)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database per backend for this test run."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        yield f"sqlite:///{root / 'medrec.db'}"
    else:
        yield from _pg_schema_url(root)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Test settings: no ``.env``, no registry polling."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        home=tmp_path_factory.mktemp("home"),
        database_url=database_url,
        api_key_pepper=PEPPER,  # type: ignore[arg-type]
        registry_poll_seconds=0,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[sa.Engine]:
    """The engine of the run's database, migrated once with ``alembic upgrade head``."""
    upgrade_db(settings)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    """A session in one transaction, rolled back after the test (crud commits are savepoints)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session
        transaction.rollback()


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny valid gamenet v1 artifact directory."""
    out = tmp_path_factory.mktemp("artifacts") / "gamenet-v1"
    write_recommender_artifact(out)
    return out


@pytest.fixture
def registry(artifact: Path) -> ModelRegistry:
    """A registry serving the tiny gamenet v1."""
    registry = ModelRegistry()
    registry.install(prepare(registry, artifact))
    return registry


def prepare(registry: ModelRegistry, path: Path) -> LoadedModel:
    """Verify and warm up the artifact at ``path`` (its manifest gives name, version, hash)."""
    m = read_manifest(path)
    return registry.prepare(name=m.name, version=m.version, sha256=m.onnx_sha256, path=path)


class ImmediateAudit(AuditQueue):
    """An audit queue that writes each event at once, through the test's session."""

    def put(self, event: AuditRecord) -> None:
        super().put(event)
        self.flush()


def inject(app: FastAPI, session: Session, registry: ModelRegistry) -> FastAPI:
    """Serve ``app`` on the test's session and registry, with its audit events on that session.

    The audit override matters: the real queue writes through a connection of its own, which
    would wait for the write lock of the test's open transaction on SQLite.
    """
    audit = ImmediateAudit(
        lambda events: create_audit_events(session=session, events=events),
        max_size=100,
        flush_seconds=1.0,
    )
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_registry] = lambda: registry
    app.dependency_overrides[get_audit_queue] = lambda: audit
    return app


@pytest.fixture
def app(settings: Settings, session: Session, registry: ModelRegistry) -> FastAPI:
    """The app with the test session, registry and an audit queue on that session injected."""
    return inject(create_app(settings), session, registry)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client whose lifespan runs (context manager)."""
    with TestClient(app) as client:
        yield client


def make_key(session: Session, role: str) -> dict[str, str]:
    """Create a key of ``role`` in ``session``; return the request header."""
    _, plaintext = create_api_key(session=session, name=f"test-{role}", role=role, pepper=PEPPER)
    return {"X-API-Key": plaintext}


@pytest.fixture
def clinician(session: Session) -> dict[str, str]:
    """Headers of a clinician key."""
    return make_key(session, "clinician")


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    """Headers of an admin key."""
    return make_key(session, "admin")
