"""The last guard before spans leave the process: errors keep their type, never their message.

Imported only when tracing is on (orderclient/tracing.py): it needs the ``tracing`` extra.

The Temporal SDK's ``TracingInterceptor`` records a failed activity's or
workflow's exception as a span event (``exception.message``,
``exception.stacktrace``) and sets the span's status to ``"Type: message"``.
An error's message may quote what a customer sent (a refused address, a
provider's answer), so ``ScrubbingExporter`` exports a copy of each span whose
exception events keep ``exception.type`` only and whose status description is
cut to the part before the first colon (the type). Everything else is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

DROPPED: Final = frozenset({"exception.message", "exception.stacktrace", "exception.escaped"})


class ScrubbingExporter(SpanExporter):
    """Wraps ``exporter``: each span goes out without exception messages or stack traces."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """``span`` with its exception events and status description cut down to the error's type."""
    description = span.status.description
    if not description and not span.events:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=[_event(event) for event in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, description.split(":", 1)[0] if description else None),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _event(event: Any) -> Event:
    attributes = {key: value for key, value in (event.attributes or {}).items() if key not in DROPPED}
    return Event(event.name, attributes, event.timestamp)
