"""Service settings: one pydantic-settings class read from ``MEDREC_*`` environment variables.

Nothing else in ``app/`` reads ``os.environ``. Build ``Settings(...)`` directly in tests; the
service gets its instance from :func:`get_settings` (cached) or from ``create_app(settings)``.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.contract.entry_points import JOB_TOOLKIT

_DEV_PEPPER = "medrec-development-pepper"


class CdsClient(BaseModel):
    """A trusted CDS Hooks client (EHR): its JWT ``iss`` and public keys (inline JWKS or URL)."""

    model_config = {"extra": "forbid"}

    iss: str = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> CdsClient:
        if (self.jwks is None) == (self.jwks_url is None):
            raise ValueError(f"CDS client {self.iss!r}: give exactly one of jwks and jwks_url")
        return self


class Settings(BaseSettings):
    """Every knob of the service, typed; environment variables are ``MEDREC_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MEDREC_", extra="forbid", validate_default=True)

    environment: Literal["development", "test", "production"] = "development"
    home: Path = Path("./var")
    # Default: SQLite under ``home`` (filled in by the validator below).
    database_url: str = ""
    # API keys are stored as HMAC-SHA256(pepper, key); keys are random, so no slow hash is needed.
    api_key_pepper: SecretStr = SecretStr(_DEV_PEPPER)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Uvicorn workers. bench/api_load.py on 2 cores (bench/results/api_load_tune-*.json): 2
    # workers served 2.2x the recommendations of 1, and 3 no more than 2: one per core.
    workers: int = Field(2, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    enable_docs: bool = True

    max_body_bytes: int = Field(1 << 20, ge=1024)
    # Seconds a client has to deliver a whole request body (uploads too); slower answers 408.
    body_timeout_seconds: float = Field(30.0, gt=0.0)
    # The worst valid recommendation (every code distinct and known, so each code of the last
    # visit is occluded for evidence) stays under 100 ms at these sizes on a GAMENet of
    # MIMIC-III size: bench/request_limits.py. 100 visits x 500 codes took 4.2 s. The request
    # schema caps a visit at 30 diagnoses + 10 procedures; these may only lower the limits.
    max_visits: int = Field(20, ge=1)
    max_codes_per_visit: int = Field(40, ge=1)  # diagnoses + procedures
    max_drugs: int = Field(50, ge=2)

    default_model: str = "gamenet"
    pair_risk_model: str = "genn"
    evidence_per_medication: int = Field(3, ge=0, le=20)
    # At most this many medications per recommendation (a request's top_k cannot raise it): a
    # set of n has n(n-1)/2 pairs, and GAMENet's sets are 10-20 classes.
    max_recommended_medications: int = Field(30, ge=1, le=500)
    # A recommendation lists a pair that is not a known interaction only when the pair model's
    # predicted risk is at least this; the rest are counted (``?pairs=all`` lists every pair).
    ddi_risk_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # Upper bound on ids fed to onnxruntime per occlusion call; larger inputs are chunked.
    occlusion_budget: int = Field(2_000_000, ge=1000)
    # One onnxruntime thread per session: a request's model call is ~0.1-0.3 ms, too short to
    # split, and parallelism comes from the workers. With 2 intra-op threads and 2 workers the
    # bench measured 2.2x the server CPU per recommendation (spinning threads on 2 cores).
    ort_intra_op_threads: int = Field(1, ge=0)
    ort_inter_op_threads: int = Field(1, ge=0)
    # How often each worker re-reads the active versions (0 = never; tests, single worker).
    registry_poll_seconds: float = Field(5.0, ge=0.0)
    # Shared sample directory of a multi-worker server's Prometheus metrics; ``medrec serve
    # --workers N`` (N > 1) sets it to ``home/prometheus`` when unset. See app/metrics.py.
    metrics_multiprocess_dir: Path | None = None
    # Each worker serves the DDI table from memory and re-checks it when its copy is older
    # than this (0 = on every use); see app/services/ddi_snapshot.py.
    ddi_snapshot_seconds: float = Field(5.0, ge=0.0)
    # Each worker caches verified API keys this long (0 = no cache): revoking a key takes
    # effect within this time; see app/services/key_cache.py.
    api_key_cache_seconds: float = Field(30.0, ge=0.0)
    # Audit events go through a bounded write-behind queue per worker, written at least this
    # often; a full queue answers 503 (fail closed). See app/services/audit_queue.py.
    audit_flush_seconds: float = Field(0.05, gt=0.0, le=60.0)
    audit_queue_size: int = Field(10_000, ge=1)
    # Each worker serves the medication code maps (medrec vocab load) from memory and re-checks
    # them when its copy is older than this; see app/services/vocab_snapshot.py.
    vocab_snapshot_seconds: float = Field(5.0, ge=0.0)

    # CDS Hooks (app/services/cds_trust.py). The clients whose JWTs are trusted, as JSON:
    # MEDREC_CDS_CLIENTS='[{"iss": "https://ehr.example.org", "jwks_url": "https://..."}]'.
    cds_clients: list[CdsClient] = Field(default_factory=list)
    # The public base URL of this service; a token's aud must be <base>/cds-services/<id>.
    # Unset: the URL the request came to (development only; set it behind a proxy).
    cds_base_url: str | None = None
    cds_leeway_seconds: float = Field(30.0, ge=0.0)
    cds_max_token_seconds: float = Field(300.0, gt=0.0)
    # Fetching prefetch data from the client's FHIR server when it was not sent.
    cds_fhir_timeout_seconds: float = Field(5.0, gt=0.0)

    # Per-key rate limit shared by every worker, counted in Redis (app/services/rate_limit.py);
    # no limit without a URL. ``rate_limit_fail_open``: when Redis is down, let requests through
    # (true) or answer 503 (false).
    rate_limit_redis_url: str | None = None
    rate_limit_per_minute: int = Field(600, ge=1)
    rate_limit_fail_open: bool = True

    # Training jobs (app.jobs). ``embedded_worker`` None: on where the job toolkit and torch are
    # installed (not in the torch-free serve image), except when environment is "test".
    embedded_worker: bool | None = None
    import_dir: Path | None = None  # server-side exports a job may name with ``source_path``
    max_upload_bytes: int = Field(2 << 30, ge=1024)
    # None: half the free disk space under ``home`` when the upload arrives.
    max_extracted_bytes: int | None = Field(None, ge=1024)
    # Inflated size at most this multiple of the archive's size (exports compress ~10x).
    max_inflate_ratio: float = Field(100.0, ge=1.0)
    # Job directories without a row older than this are removed at start-up (a killed upload).
    orphan_grace_seconds: float = Field(3600.0, ge=0.0)
    max_archive_files: int = Field(10_000, ge=1)
    max_active_jobs: int = Field(2, ge=1)  # queued + running; more answer 429
    job_lease_seconds: float = Field(60.0, gt=0.0)
    job_heartbeat_seconds: float = Field(10.0, gt=0.0)
    job_poll_seconds: float = Field(2.0, gt=0.0)
    job_max_attempts: int = Field(3, ge=1)
    job_toolkit: str = JOB_TOOLKIT  # module:attribute, built in the job's own process
    # Promotion gate: the candidate may trail the active version by at most these margins.
    gate_margin_jaccard: float = Field(0.01, ge=0.0)
    gate_margin_prauc: float = Field(0.01, ge=0.0)
    gate_margin_ddi_rate: float = Field(0.01, ge=0.0)

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_placeholders(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'medrec.db'}"
        if (
            self.environment == "production"
            and self.api_key_pepper.get_secret_value() == _DEV_PEPPER
        ):
            raise ValueError("MEDREC_API_KEY_PEPPER must be set outside development")
        return self

    @property
    def artifacts_dir(self) -> Path:
        """Where uploaded and demo artifacts live."""
        return self.home / "artifacts"

    @property
    def jobs_dir(self) -> Path:
        """Where training jobs keep their uploads, datasets and runs."""
        return self.home / "jobs"

    @property
    def runs_embedded_worker(self) -> bool:
        """Whether the service runs a training-job worker in its lifespan."""
        if self.embedded_worker is None:
            return self.environment != "test" and self.has_job_toolkit
        return self.embedded_worker

    @property
    def has_job_toolkit(self) -> bool:
        """Whether the job toolkit's package and torch are installed (found, not imported)."""
        package = self.job_toolkit.partition(":")[0].partition(".")[0]
        return all(importlib.util.find_spec(name) is not None for name in (package, "torch"))

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (one writer; WAL mode is switched on)."""
        return self.database_url.startswith("sqlite")


def settings_table() -> str:
    """The Markdown table of every setting (README "Production"): variable, type, default.

    >>> settings_table().splitlines()[0]
    '| variable | type | default |'
    """
    rows = ["| variable | type | default |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        kind = annotation.__name__ if isinstance(annotation, type) else str(annotation)
        kind = re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", kind).replace("|", "or")  # no modules
        if field.default_factory is not None:
            default = "`" + repr(field.default_factory()) + "`"  # type: ignore[call-arg]
        elif isinstance(field.default, SecretStr):
            default = "(development placeholder; required in production)"
        else:
            default = "" if field.default in ("", None) else f"`{field.default}`"
        rows.append(f"| `MEDREC_{name.upper()}` | {kind} | {default} |")
    return "\n".join(rows)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()


if __name__ == "__main__":
    print(settings_table())  # noqa: T201 (python -m app.settings regenerates the README table)
