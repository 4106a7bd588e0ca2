"""One attempt of a training job: ingest → train → export → evaluate → gate → fenced commit.

The steps that need ``training/`` (and torch) are methods of a :class:`Toolkit`, supplied by
the toolkit named by the ``job_toolkit`` setting (``app.contract.jobs``), or by tests. This
module only orchestrates, so it stays torch-free and testable without training anything.

Nothing is half-written: the dataset, run and artifact live in the attempt's own directory until
the final transaction, which (fenced on lease owner and attempt) marks the job succeeded and
registers the candidate version together. A failed or superseded attempt leaves no model
version and its directory is removed.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.contract.artifact import MANIFEST_FILE
from app.contract.ddi_table import DdiPair, DdiTable, write_ddi_csv
from app.contract.errors import JobInputError
from app.contract.jobs import Toolkit
from app.crud import ddi as ddi_crud
from app.crud import model_versions as versions_crud
from app.crud import training_jobs as jobs_crud
from app.crud.job_queue import fenced_update
from app.db.base import utcnow
from app.db.models import ModelVersion
from app.inference.onnx import read_manifest
from app.jobs.context import JobContext
from app.jobs.evaluation import load_recommender, score_patients
from app.jobs.gate import GateMargins, decide
from app.jobs.promotion import activate_candidate

logger = logging.getLogger(__name__)
_VERSION_TRIES = 5
COMPARISON_FILE = "comparison.json"  # beside the artifact; also in the job row


def run_attempt(ctx: JobContext, toolkit: Toolkit) -> None:
    """Run every step of one attempt; the job ends succeeded, or an exception says why not.

    Raises:
        JobInputError: the input is unusable (the job fails with this message).
        LeaseLost: the attempt lost its lease (it must not write anything more).
    """
    work = ctx.work_dir
    for old in ctx.job.job_dir.glob("attempt-*"):
        shutil.rmtree(old, ignore_errors=True)  # earlier attempts' leftovers: never registered
    work.mkdir(parents=True)
    params = ctx.job.params
    ctx.report(1.0)
    logger.info("attempt %d: reading the %s export", ctx.lease.attempt, ctx.job.format)
    summary = toolkit.ingest(
        ctx.job.format, ctx.job.input_path, work / "dataset", _reader_options(ctx)
    )
    ctx.report(5.0)
    ddi_path = _ddi_table(ctx, work)
    epochs = int(params.get("epochs", 1))

    def on_epoch(epoch: int, total: int, val: dict[str, float]) -> None:
        ctx.report(5.0 + 80.0 * epoch / max(total, 1), epoch=epoch, epochs=total, val_metrics=val)

    ctx.report(5.0, epochs=epochs)
    toolkit.train(ctx.job.model, work / "dataset", work / "run", params, ddi_path, on_epoch)
    version = _next_version(ctx, ctx.job.model)
    candidate = work / "artifact"
    toolkit.export(work / "run", candidate, version)
    ctx.report(90.0)
    comparison = compare(ctx, toolkit, work, candidate, ddi_path)
    comparison["dataset"] = summary
    _commit(ctx, candidate, version, comparison)


def _reader_options(ctx: JobContext) -> dict[str, Any]:
    options = dict(ctx.job.params.get("reader", {}))
    mappings = ctx.job.job_dir / "mappings"
    for key, value in list(options.items()):
        # Only a plain file name may point into the mappings (no separators, no "..").
        if isinstance(value, str) and value == Path(value).name and (mappings / value).is_file():
            options[key] = mappings / value
    return options


def _ddi_table(ctx: JobContext, work: Path) -> Path | None:
    """The interaction table: the dataset's own, the upload's ``ddi.csv``, else the DB's."""
    if (work / "dataset" / "ddi.csv").is_file():
        return None
    for folder in (ctx.job.job_dir / "mappings", ctx.job.input_path):
        if (folder / "ddi.csv").is_file():
            return folder / "ddi.csv"
    with ctx.sessions() as session:
        rows = list(ddi_crud.get_all_interactions(session=session))
    if not rows:
        raise JobInputError(
            "no DDI table: upload ddi.csv (atc3_a,atc3_b) with the export or as a mapping file, "
            "or load one into the service with `medrec ddi load FILE`"
        )
    path = work / "ddi.csv"
    pairs = (DdiPair(r.atc_a, r.atc_b, tuple(r.types), r.severity, r.source) for r in rows)
    write_ddi_csv(DdiTable.from_pairs(pairs, name="knowledge-base"), path)
    logger.info("using the service's DDI knowledge base (%d pairs)", len(rows))
    return path


def _next_version(ctx: JobContext, name: str) -> int:
    with ctx.sessions() as session:
        return versions_crud.get_next_version(session=session, name=name)


def _summary(boot: dict[str, Any], point: dict[str, float]) -> dict[str, Any]:
    out = {}
    for key, value in point.items():
        mean, std = boot[key]["mean"], boot[key]["std"]
        out[key] = {
            "point": value,
            "mean": mean,
            "std": std,
            "ci95": [mean - 1.96 * std, mean + 1.96 * std],  # normal approximation
        }
    return out


def compare(
    ctx: JobContext, toolkit: Toolkit, work: Path, candidate: Path, ddi_path: Path | None
) -> dict[str, Any]:
    """Score the candidate and the active version on the candidate's test split, side by side.

    Both are scored by the same ONNX code (any recommender: the inputs are roles), and the
    active version compared is the one of the candidate manifest's model name.
    """
    held = toolkit.held_out(work / "dataset", candidate, ddi_path)
    rec = load_recommender(candidate)
    scored = toolkit.metrics(held, score_patients(rec, held.patients, held.meds))
    report: dict[str, Any] = {
        "split": "test",
        "patients": len(held.patients),
        "visits": int(sum(len(p) for p in held.patients)),
        "threshold": held.threshold,
        "bootstrap": "10 rounds of 80% of the patients, seed as the run; ci95 = mean ± 1.96 std",
        "candidate": _summary(scored["bootstrap"], scored["point"]),
        "active": None,
    }
    with ctx.sessions() as session:
        active = _active_row(session, rec.manifest.name)
    active_point = None
    if active is not None:
        rec = load_recommender(Path(active.path), active.sha256)  # verified like activation
        act = toolkit.metrics(held, score_patients(rec, held.patients, held.meds))
        active_point = act["point"]
        report["active"] = {
            "name": active.name,
            "version": active.version,
            **_summary(act["bootstrap"], act["point"]),
        }
    gate = decide(scored["point"], active_point, GateMargins.from_settings(ctx.settings))
    # "activated": None until the activation has been tried (then True or False).
    report["gate"] = {**gate.to_json(), "activated": None if gate.activate else False}
    return report


def _active_row(session: Session, name: str) -> ModelVersion | None:
    rows = [r for r in versions_crud.get_active_versions(session=session) if r.name == name]
    return rows[0] if rows else None


def _commit(ctx: JobContext, candidate: Path, version: int, comparison: dict[str, Any]) -> None:
    """Move the artifact into place, then finish the job and register the version atomically.

    Another job may register the same version number first (unique name + version): the
    manifest's ``version`` is then moved to the next free number and the commit retried.
    """
    final = (
        ctx.settings.artifacts_dir / f"{ctx.job.model}-{ctx.job.id.hex[:8]}-a{ctx.lease.attempt}"
    )
    final.parent.mkdir(parents=True, exist_ok=True)
    (candidate / COMPARISON_FILE).write_text(json.dumps(comparison, indent=2) + "\n")
    shutil.move(candidate, final)
    try:
        for _ in range(_VERSION_TRIES):
            try:
                row = _register(ctx, final, version, comparison)
                break
            except IntegrityError:
                version = _next_version(ctx, ctx.job.model)
        else:
            raise RuntimeError("no free version number after retries")
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    logger.info("registered candidate %s v%d", row.name, row.version)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    if comparison["gate"]["activate"]:
        activate_candidate(ctx, row)


def _register(
    ctx: JobContext, final: Path, version: int, comparison: dict[str, Any]
) -> ModelVersion:
    manifest = read_manifest(final)
    if manifest.version != version:
        manifest = manifest.model_copy(update={"version": version})
        text = json.dumps(manifest.model_dump(mode="json", by_alias=True), indent=2)
        (final / MANIFEST_FILE).write_text(text + "\n")
    with ctx.sessions() as session:
        fenced_update(
            session=session,
            lease=ctx.lease,
            commit=False,
            state="succeeded",
            progress=100.0,
            comparison=comparison,
            finished_at=utcnow(),
            lease_owner=None,
            log_tail=ctx.tail.text(),
        )
        try:
            row = versions_crud.create_model_version(
                session=session,
                manifest=manifest,
                sha256=manifest.onnx_sha256,
                path=str(final),
                commit=False,
            )
        except IntegrityError:
            session.rollback()
            raise
        jobs_crud.set_result_version(session=session, job_id=ctx.job.id, model_version_id=row.id)
        session.commit()
        return row
