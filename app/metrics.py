"""Prometheus metrics, one registry per app (built in ``create_app``, never at import)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.inference.registry import ModelRegistry

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counts and latency by route template, inference time, model version info."""

    def __init__(self) -> None:
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
        )

    def render(self, models: ModelRegistry) -> bytes:
        """Return the text exposition, with the model-version gauge refreshed."""
        self.model_info.clear()
        for loaded in models.snapshot().values():
            self.model_info.labels(loaded.name, str(loaded.version), loaded.sha256).set(1)
        return generate_latest(self.registry)
