"""Engine and sessionmaker, built from settings in the lifespan (never at import)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented fix is to
    # switch it off and emit BEGIN ourselves ("Serializable isolation / Savepoints").
    dbapi_connection.isolation_level = None
    # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _SqliteTransactions:
    """``begin``/``commit``/``rollback`` listeners of one SQLite engine.

    SQLite cannot upgrade a read transaction to a write one after another connection has
    committed (SQLITE_BUSY at once, without the busy wait), so transactions that will write ask
    for the write lock at BEGIN (``begin_write``); reads stay deferred and never block.
    SQLite's busy handler polls with growing sleeps, so under many concurrent writers some starve
    for seconds: this process's writers queue on a Python lock first (prompt hand-over), and only
    one per process waits on SQLite's lock.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        if not connection.get_execution_options().get("sqlite_immediate", False):
            connection.exec_driver_sql("BEGIN")
            return
        if not self.lock.acquire(timeout=30.0):
            raise TimeoutError("timed out waiting for the SQLite write lock")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        connection.info["medrec_holds_write_lock"] = True

    def end(self, connection: Any) -> None:
        if connection.info.pop("medrec_holds_write_lock", False):
            self.lock.release()


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    """Create the process's engine for ``settings.database_url``."""
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    engine = create_engine(settings.database_url, pool_pre_ping=True, **kwargs)
    if settings.is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        transactions = _SqliteTransactions()
        event.listen(engine, "begin", transactions.begin)
        event.listen(engine, "commit", transactions.end)
        event.listen(engine, "rollback", transactions.end)
    return engine


def begin_write(session: Session) -> None:
    """Start the session's next transaction as a write transaction (``BEGIN IMMEDIATE`` on SQLite).

    A no-op while a transaction is open (it has begun already, as a write or not), so callers
    use it before the first statement of a transaction that will write.
    """
    if not session.in_transaction():
        session.connection(execution_options={"sqlite_immediate": True})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the sessionmaker kept in the app state; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
