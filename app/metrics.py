"""Prometheus metrics, one registry per app (built in ``create_app``, never at import).

With several uvicorn workers, each scrape reaches one of them, so ``medrec serve --workers N``
runs prometheus_client's multiprocess mode: every worker writes its samples to files under
``metrics_multiprocess_dir`` and a scrape of any worker adds up all of them (counters and
histograms summed; the model-version gauge kept per live worker, with a ``pid`` label).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.inference.registry import ModelRegistry

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counts and latency by route template, inference time, model version info.

    Args:
        multiprocess_dir: the shared sample directory of a multi-worker server (prometheus_client
            must have been imported with ``PROMETHEUS_MULTIPROC_DIR`` set to it, as
            ``medrec serve`` arranges); ``None`` for one process.
    """

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        # In multiprocess mode the samples live in files; this registry only owns the metrics,
        # and the exposition reads every worker's files instead.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medrec_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medrec_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "medrec_inference_seconds",
            "Model inference time (with occlusion evidence)",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "medrec_model_info",
            "Active model versions served by this process",
            ["name", "version", "sha256"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self._served: set[tuple[str, str, str]] = set()

    def render(self, models: ModelRegistry) -> bytes:
        """Return the text exposition, with the model-version gauge refreshed."""
        active = {(m.name, str(m.version), m.sha256) for m in models.snapshot().values()}
        for labels in self._served - active:  # 0, not removed: a worker's file keeps its rows
            self.model_info.labels(*labels).set(0)
        for labels in active:
            self.model_info.labels(*labels).set(1)
        self._served |= active
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """Mark this worker dead, so its live gauges leave the merged view (multiprocess only)."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
