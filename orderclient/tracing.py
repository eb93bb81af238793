"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables and off without them.

One customer action is one trace: the portal's request span (``instrument_asgi``),
the client's update or signal and the workflow and activity spans
(``temporalio.contrib.opentelemetry.TracingInterceptor``, ``client_interceptors``),
and the Stripe or SendGrid request (``http_span``).

**On or off.** Tracing is on when ``OTEL_TRACES_EXPORTER`` names exporters
(``otlp``, ``console``) or an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); ``OTEL_TRACES_EXPORTER=none`` or
``OTEL_SDK_DISABLED=true`` turn it off. Unlike the SDK's own default (``otlp``),
nothing set means off: no provider, no interceptor, no middleware, and the
``opentelemetry`` packages (the ``tracing`` extra) are never imported, so a
worker without them runs as before. The OTLP exporter (HTTP/protobuf) reads
its endpoint, headers and timeout from the ``OTEL_EXPORTER_OTLP_*`` variables
itself; ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the process.

**No personal data.** Spans carry the order id (the workflow id) and the
action (update, signal, activity or route name) only. The web span sees a copy
of the request without the query string (signed link tokens), the client's
address or any header but the trace context's; HTTP client spans record the
method, host and status, never a URL path, body or error message. Nothing
here sets baggage, and incoming ``baggage`` headers are dropped. Every span is
exported through ``ScrubbingExporter`` (orderclient/span_scrubbing.py), which
keeps an error's type and drops its message and stack trace: the SDK's
interceptor records them, and a message may quote a customer.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

log = logging.getLogger("orders.tracing")

EXPORTER_ENV: Final = "OTEL_TRACES_EXPORTER"
ENDPOINT_ENVS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DISABLED_ENV: Final = "OTEL_SDK_DISABLED"
SERVICE_ENV: Final = "OTEL_SERVICE_NAME"
EXPORTERS: Final = ("otlp", "console")
KEPT_HEADERS: Final = frozenset({b"host", b"traceparent", b"tracestate"})
"""The only request headers the web span sees: no user agent, cookies, forwarded addresses or baggage."""

ORDER_ID: Final = "orders.order_id"
ACTION: Final = "orders.action"

_provider: Any = None
"""The ``TracerProvider`` this process traces with, or None: tracing is off."""
_destination = ""
"""Where the spans go, for ``orders dev``'s banner."""


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable this project cannot honour; the message names it."""


def exporters_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The span exporters the environment asks for: empty when tracing is off."""
    env = os.environ if environ is None else environ
    if env.get(DISABLED_ENV, "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in env.get(EXPORTER_ENV, "").split(",") if name.strip()]
    if "none" in named:
        return []
    unknown = [name for name in named if name not in EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"{EXPORTER_ENV}={env.get(EXPORTER_ENV)!r}: unknown exporter {', '.join(unknown)} "
            f"(use {', '.join(EXPORTERS)} or none)"
        )
    if named:
        return named
    return ["otlp"] if any(env.get(name, "").strip() for name in ENDPOINT_ENVS) else []


def enabled() -> bool:
    """Whether this process traces (``configure`` found exporters)."""
    return _provider is not None


def configure(service_name: str, environ: Mapping[str, str] | None = None, *, exporter: Any = None) -> bool:
    """Trace this process if the environment (or ``exporter``, for tests) says so; True if on.

    Idempotent: the first call names the service. ``exporter`` (any span
    exporter) is added with a synchronous processor and leaves the global
    provider alone, so a test can trace and then ``shutdown``.
    """
    global _provider, _destination
    if _provider is not None:
        return True
    env = os.environ if environ is None else environ
    names = exporters_from_env(env)
    if not names and exporter is None:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise TracingConfigError(
            "tracing is configured (OTEL_*) but OpenTelemetry is not installed: pip install 'service-orders[tracing]'"
        ) from None
    from orderclient.span_scrubbing import ScrubbingExporter

    provider = TracerProvider(resource=Resource.create({"service.name": env.get(SERVICE_ENV) or service_name}))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(_exporter(name, env))))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(ScrubbingExporter(exporter)))
    else:
        trace.set_tracer_provider(provider)  # for libraries that trace through the global provider
    _provider = provider
    _destination = " and ".join(
        "the console" if name == "console" else f"{otlp_endpoint(env) or 'http://localhost:4318/v1/traces'} (OTLP)"
        for name in names
    )
    log.info("tracing on: %s as %s", ", ".join(names) or "test exporter", env.get(SERVICE_ENV) or service_name)
    return True


def forced_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``orders dev --trace``: the ``OTEL_*`` variables' exporters, or the console when they name none."""
    env = {name: value for name, value in environ.items() if name != DISABLED_ENV}
    if not exporters_from_env(env):
        env[EXPORTER_ENV] = "console"
    return env


def destination() -> str:
    """Where this process's spans go, in a few words."""
    return f"spans to {_destination or 'a test exporter'}" if _provider is not None else "off (--trace prints spans)"


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Headers and timeout from OTEL_EXPORTER_OTLP_*. The endpoint is chosen here because compose
    # passes unset variables through as empty ones, which the exporter would take for a URL.
    return OTLPSpanExporter(endpoint=otlp_endpoint(environ))


def otlp_endpoint(environ: Mapping[str, str]) -> str | None:
    """Where OTLP/HTTP spans go: the traces endpoint as given, or ``/v1/traces`` under the
    base endpoint; None for the exporter's default (``http://localhost:4318/v1/traces``)."""
    traces = environ.get(ENDPOINT_ENVS[0], "").strip()
    if traces:
        return traces
    base = environ.get(ENDPOINT_ENVS[1], "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def shutdown() -> None:
    """Export what is buffered and stop tracing (before ``os._exit``, and after a test)."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def client_interceptors() -> list[Any]:
    """The Temporal client's interceptors: the SDK's ``TracingInterceptor`` (with signals and
    updates in their sender's trace: orderclient/temporal_tracing.py) when tracing, else none.

    Workers built on a client use its interceptors too (the SDK merges them), so
    the worker's workflow and activity spans come from the same interceptor.
    """
    if _provider is None:
        return []
    from orderclient.temporal_tracing import ActionTracingInterceptor

    return [ActionTracingInterceptor(_provider.get_tracer("orders.temporal"))]


def instrument_asgi(app: Any) -> Any:
    """``app`` inside OpenTelemetry's ASGI middleware when tracing, else ``app`` itself."""
    if _provider is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    traced = OpenTelemetryMiddleware(_Original(app), tracer_provider=_provider, exclude_spans=["receive", "send"])
    return _Scrubbed(traced, app)


class _Original:
    """The app behind the middleware gets the request as it came, not the scrubbed copy."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope.get("orders.request", scope), receive, send)


class _Scrubbed:
    """Hands the middleware a copy of each HTTP request without personal data or secrets:
    no query string (signed tokens), no client address, only the trace context headers."""

    def __init__(self, traced: Any, app: Any) -> None:
        self.traced = traced
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() in KEPT_HEADERS]
        clean = {**scope, "query_string": b"", "client": None, "headers": headers, "orders.request": scope}
        await self.traced(clean, receive, send)


class HttpSpan:
    """The open span of one outgoing request: ``status`` records the answer's code."""

    def __init__(self, span: Any) -> None:
        self._span = span

    def status(self, code: int) -> None:
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", code)
            if code >= 400:
                self._error(str(code))

    def failed(self, error: BaseException) -> None:
        # The type and status only: messages and bodies may quote an address.
        code = getattr(error, "status_code", None) or getattr(error, "code", None)
        if isinstance(code, int):
            self.status(code)
        if self._span is not None:
            self._span.set_attribute("error.type", type(error).__name__)
            self._error(type(error).__name__)

    def _error(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))


@contextlib.contextmanager
def http_span(service: str, method: str, url: str) -> Iterator[HttpSpan]:
    """A CLIENT span around one request to ``service`` (Stripe, SendGrid): method, host, port and status."""
    if _provider is None:
        yield HttpSpan(None)
        return
    from opentelemetry.trace import SpanKind

    parts = urlsplit(url)
    attributes = {
        "http.request.method": method.upper(),
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "peer.service": service.lower(),
    }
    tracer = _provider.get_tracer("orders.http")
    with tracer.start_as_current_span(
        f"{method.upper()} {service}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        traced = HttpSpan(span)
        try:
            yield traced
        except BaseException as error:
            traced.failed(error)
            raise
