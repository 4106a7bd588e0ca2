"""Activating a candidate that passed the gate, audited like an admin's activation.

The service's ``activate_version`` verifies the artifact (hash, golden input) before it marks the
version active, so a broken candidate leaves the previous version active. Serving processes pick
the new active version up through their registry poll. The activation is written to the audit log
(route ``job:auto-activate``, no PHI) and recorded in the job's comparison report.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

from app.crud.audit import create_audit_event
from app.db.models import ModelVersion, TrainingJob
from app.errors import MedRecError
from app.inference.onnx import OrtOptions
from app.inference.registry import ModelRegistry
from app.services.models import activate_version

if TYPE_CHECKING:
    from app.jobs.context import JobContext

logger = logging.getLogger(__name__)
AUTO_ACTIVATE_ROUTE = "job:auto-activate"


def activate_candidate(ctx: JobContext, row: ModelVersion) -> bool:
    """Activate ``row`` for the job of ``ctx``; return whether it is now active."""
    start = time.perf_counter()
    registry = ModelRegistry(OrtOptions(ctx.settings.ort_intra_op_threads, 1))
    status, ok = 200, True
    with ctx.sessions() as session:
        try:
            activate_version(session=session, registry=registry, name=row.name, version=row.version)
        except MedRecError as exc:
            session.rollback()
            logger.error("auto-activation of %s v%d failed: %s", row.name, row.version, exc)
            status, ok = exc.status, False
        job = session.get(TrainingJob, ctx.job.id)
        assert job is not None
        create_audit_event(
            session=session,
            request_id=f"job-{ctx.job.id.hex}-{uuid.uuid4().hex[:8]}",
            api_key_id=job.created_by_key_id,
            method="JOB",
            route=AUTO_ACTIVATE_ROUTE,
            status_code=status,
            duration_ms=(time.perf_counter() - start) * 1000,
        )
        job = session.get(TrainingJob, ctx.job.id, populate_existing=True)
        assert job is not None and job.comparison is not None
        job.comparison = {**job.comparison, "gate": {**job.comparison["gate"], "activated": ok}}
        session.commit()
    if ok:
        logger.info("auto-activated %s v%d", row.name, row.version)
    return ok
