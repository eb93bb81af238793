"""Tracing into memory for one test: ``with traced() as spans: ...; spans.get_finished_spans()``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orderclient import tracing


@contextlib.contextmanager
def traced() -> Iterator[InMemorySpanExporter]:
    """This process traces into memory (as if ``OTEL_*`` were set), then stops tracing."""
    exporter = InMemorySpanExporter()
    assert tracing.configure("orders-test", {}, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()
