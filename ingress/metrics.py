"""Prometheus metrics of the ingress (GET /metrics).

Each app gets its own registry (tests build several apps in one process).
With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR makes the values of
every worker visible from any of them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from wapipe.settings import prometheus_multiproc_dir

_SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 3145728, 4194304)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class IngressMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "wapipe_ingress_requests",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "wapipe_ingress_ingest_seconds",
            "Time from a POST's ingest request to its commit (wait for a call slot, call, commit)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_batch_size = Histogram(
            "wapipe_ingress_ingest_batch_size",
            "POSTs stored by the same ingest call (group commit under load)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.messages = Counter(
            "wapipe_ingress_messages",
            "Messages in accepted webhooks, by outcome (accepted = new, duplicate)",
            ["outcome"],
            registry=r,
        )
        self.statuses = Counter(
            "wapipe_ingress_statuses", "Statuses in accepted webhooks", registry=r
        )
        self.signature_failures = Counter(
            "wapipe_ingress_signature_failures",
            "POSTs refused for their X-Hub-Signature-256, by reason",
            ["reason"],
            registry=r,
        )
        self.payload_bytes = Histogram(
            "wapipe_ingress_payload_bytes",
            "Size of webhook bodies read in full",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.db_unavailable = Counter(
            "wapipe_ingress_db_unavailable",
            "POSTs answered 503 because the database was unreachable or too slow",
            registry=r,
        )
        self.db_up = Gauge(
            "wapipe_ingress_db_up",
            "1 while the ingress reaches the database, 0 while it answers every POST 503 "
            "at once and probes for the database's return",
            registry=r,
            multiprocess_mode="livemin",
        )

        # Children bound once: labels() takes a lock and a lookup, on every POST.
        self.accepted_messages = self.messages.labels("accepted")
        self.duplicate_messages = self.messages.labels("duplicate")
        self._answered: dict[tuple[str, int], Counter] = {}

    def answered(self, route: str, status: int) -> None:
        """Count one HTTP answer (route is one of the app's, or "other")."""
        child = self._answered.get((route, status))
        if child is None:
            child = self._answered[(route, status)] = self.requests.labels(route, str(status))
        child.inc()

    def render(self) -> bytes:
        if prometheus_multiproc_dir():
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
