"""Traces of runs over OpenTelemetry (OTLP/HTTP), off by default.

A process that executes runs (`oob worker`, `oob serve`, `oob rehearse`) exports traces only
where an endpoint is named: `[telemetry] otlp_traces_endpoint` in the config, else the standard
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` in the environment (the one way for `oob rehearse`, which
reads no config). DBOS's own tracer then sends one span per run (`oob.run`, its id as
`operationUUID`) with a child span per step (`oob.durable.launch`). This module only says
whether and where; OpenTelemetry is imported only once traces are asked for, and its absence
is one line naming the extra to install (`pip install 'oob[otel]'`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import Field

from oob.config_types import Model
from oob.errors import ConfigError

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
# What DBOS imports to export traces, by the distribution of oob's `otel` extra providing it.
EXPORTER_MODULES = {
    "opentelemetry-sdk": "opentelemetry.sdk.trace",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http",
}
URL = r"^https?://[^\s<>|]+$"


class Telemetry(Model):
    """`[telemetry]`: where the runs' traces go; none named, none exported."""

    otlp_traces_endpoint: str | None = Field(
        default=None,
        pattern=URL,
        description="An OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces.",
    )
    attributes: dict[str, str] = Field(
        default={}, description="Attributes set on every span (deployment.environment, ...)."
    )


@dataclass(frozen=True)
class Traces:
    """Where this process exports its traces, and the attributes of every span."""

    endpoint: str
    attributes: dict[str, str] = field(default_factory=dict)


def traces(telemetry: Telemetry | None) -> Traces | None:
    """The traces this process exports (None: none, and nothing of OpenTelemetry imported).

    Raises ConfigError (exit 2) when the environment's endpoint is not a URL, or when traces
    are asked for and the exporter is not installed."""
    endpoint = telemetry.otlp_traces_endpoint if telemetry else None
    if endpoint is None:
        endpoint = os.environ.get(ENDPOINT_ENV) or None
        parts = urlsplit(endpoint or "")
        if endpoint is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ConfigError(f"{ENDPOINT_ENV} is not an http(s) URL: {endpoint!r}")
    if endpoint is None:
        return None
    for distribution, module in EXPORTER_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(
                f"traces go to {endpoint}, but {distribution} is not installed: "
                "pip install 'oob[otel]'"
            ) from None
    return Traces(endpoint, dict(telemetry.attributes) if telemetry else {})


def flush() -> None:
    """Send the spans still batched (before a process leaves without running its exit hooks)."""
    trace = importlib.import_module("opentelemetry.trace")  # there once traces are asked for
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush()
