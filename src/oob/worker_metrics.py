"""`oob worker --metrics-port`: what this worker's requests met, for Prometheus to scrape.

The fleet's figures (runs by state, phases, reaction, queues) are the store's, served by `oob
serve`'s `/metrics` to every scraper alike. Retries and failures by service happen inside each
worker's requests and are counted there (`oob.adapters.retry.TALLY`), so each worker serves its
own on a port of its own, as Prometheus expects of processes.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from oob.adapters.retry import TALLY, Tally


class TallyCollector(Collector):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        retries = CounterMetricFamily(
            "oob_service_retries",
            "Requests sent again after a transient failure, by service.",
            labels=["service"],
        )
        failures = CounterMetricFamily(
            "oob_service_failures",
            "Calls that still failed when the retry policy gave up, by service.",
            labels=["service"],
        )
        for service, n in sorted(self.tally.retries.items()):
            retries.add_metric([service], n)
        for service, n in sorted(self.tally.failures.items()):
            failures.add_metric([service], n)
        yield retries
        yield failures


def serve_metrics(port: int, address: str) -> None:
    """Serve this worker's metrics on `address`:`port` (a daemon thread)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TallyCollector(TALLY))
    start_http_server(port, addr=address, registry=registry)
