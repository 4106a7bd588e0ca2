"""Audit-log inserts as the table grows: random (v4) keys against time-ordered (v7) ones.

The audit queue writes one row per audited request, in batches (``app.services.audit_queue``),
into a table indexed on its key and its request id. Each run migrates a fresh database and
writes ``--rows`` events through the queue's own writer (``database_writer``) in batches of
``--batch``, the key and the request id both random or both time-ordered, alternating the two
kinds block by block in the same process. Reported: CPU µs a row per block of 10,000 rows, and
the v4/v7 ratio over all blocks.

    OMP_NUM_THREADS=1 python bench/audit_insert.py
    OMP_NUM_THREADS=1 python bench/audit_insert.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_load import _drop_postgres_schema, _postgres_schema  # noqa: E402

from app.admin import upgrade_db  # noqa: E402
from app.crud.audit import AuditRecord  # noqa: E402
from app.db.ids import uuid7  # noqa: E402
from app.db.session import make_engine, make_sessionmaker  # noqa: E402
from app.services.audit_queue import Writer, database_writer  # noqa: E402
from app.settings import Settings  # noqa: E402

BLOCK = 10_000


def _writer(url: str, home: Path) -> tuple[Writer, Callable[[], None]]:
    """A writer on a fresh, migrated database; and how to drop it."""
    schema = None
    if url:
        schema, url = _postgres_schema(url)
    settings = Settings(_env_file=None, home=home, database_url=url or f"sqlite:///{home}/a.db")
    upgrade_db(settings)
    engine = make_engine(settings)

    def drop() -> None:
        engine.dispose()
        if schema is not None:
            _drop_postgres_schema(url, schema)

    return database_writer(make_sessionmaker(engine)), drop


def _block(write: Writer, make_id: Callable[[], uuid.UUID], batch: int) -> float:
    """CPU µs a row of one block of BLOCK rows."""
    start = time.process_time()
    for _ in range(BLOCK // batch):
        write([
            AuditRecord(make_id().hex, None, "POST", "/v1/recommendations", 200, 1.5, id=make_id())
            for _ in range(batch)
        ])  # fmt: skip
    return (time.process_time() - start) * 1e6 / BLOCK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--rows", type=int, default=80_000, help="rows per kind")
    parser.add_argument("--batch", type=int, default=25, help="rows per transaction")
    parser.add_argument("--out", type=Path, help="default: bench/results/audit_insert_<db>.json")
    args = parser.parse_args()
    database = "postgresql" if args.database_url else "sqlite"
    kinds = {"v4 (random)": uuid.uuid4, "v7 (time-ordered)": uuid7}
    blocks: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        writers = {k: _writer(args.database_url, Path(tmp) / str(i)) for i, k in enumerate(kinds)}
        try:
            for _ in range(args.rows // BLOCK):
                for kind, make_id in kinds.items():
                    blocks[kind].append(_block(writers[kind][0], make_id, args.batch))
        finally:
            for _, drop in writers.values():
                drop()
    print(f"{'rows':>8} " + " ".join(f"{k:>20}" for k in kinds) + "   (CPU µs a row)")
    for i in range(len(blocks["v4 (random)"])):
        print(f"{(i + 1) * BLOCK:8d} " + " ".join(f"{blocks[k][i]:20.1f}" for k in kinds))
    mean = {k: sum(v) / len(v) for k, v in blocks.items()}
    ratio = mean["v4 (random)"] / mean["v7 (time-ordered)"]
    print(f"mean v4 / v7: {ratio:.2f}")
    out = args.out or ROOT / "bench" / "results" / f"audit_insert_{database}.json"
    result = {"database": database, "batch": args.batch, "block_rows": BLOCK,
              "us_per_row": blocks, "mean_us_per_row": mean, "ratio_v4_over_v7": ratio}  # fmt: skip
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
