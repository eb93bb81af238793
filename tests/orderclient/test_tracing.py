"""Tracing is chosen by the ``OTEL_*`` variables, and costs nothing when they are unset."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient import connection, tracing
from tests.spans import traced as into_memory
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def traced() -> Iterator[InMemorySpanExporter]:
    with into_memory() as exporter:
        yield exporter


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "orders"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, []),
    ],
)
def test_the_otel_variables_choose_the_exporters(environ: dict[str, str], exporters: list[str]) -> None:
    assert tracing.exporters_from_env(environ) == exporters


def test_an_unknown_exporter_is_named() -> None:
    with pytest.raises(tracing.TracingConfigError, match="unknown exporter jaeger"):
        tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "jaeger"})


def test_without_otel_variables_tracing_is_off() -> None:
    assert not tracing.configure("orders-test", {})
    assert not tracing.enabled()
    assert tracing.client_interceptors() == []

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    assert tracing.instrument_asgi(app) is app
    with tracing.http_span("SendGrid", "POST", "https://api.sendgrid.com/v3/mail/send") as span:
        span.status(202)  # a no-op without a provider


def test_without_otel_variables_nothing_of_opentelemetry_is_loaded() -> None:
    """The worker, the web apps and the CLI import no OpenTelemetry module unless tracing is on:
    the ``tracing`` extra is optional, and tracing that is off costs nothing."""
    script = (
        "import sys, worker, starter.cli, orderweb.portal, orderweb.webhooks, orderweb.codec_server\n"
        "from orderclient import tracing\n"
        "assert not tracing.configure('orders-worker')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


async def test_clients_and_workers_get_no_interceptor_when_tracing_is_off(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    client = await connection.connect(dev_env.client.service_client.config.target_host)
    assert client.config()["interceptors"] == []
    worker = build_worker(client, settings, task_queue)
    assert not [i for i in worker.config()["interceptors"] if isinstance(i, TracingInterceptor)]


async def test_clients_trace_when_tracing_is_on(dev_env: WorkflowEnvironment, traced: InMemorySpanExporter) -> None:
    client = await connection.connect(dev_env.client.service_client.config.target_host)
    # Workers prepend their client's worker interceptors (the SDK's Worker): one interceptor traces
    # both sides, and tests/orderweb/test_portal_tracing.py sees the worker's spans.
    [interceptor] = client.config()["interceptors"]
    assert isinstance(interceptor, TracingInterceptor)


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}, None),  # compose's empty
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, "http://jaeger:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}, "http://jaeger:4318/v1/traces"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/t", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"},
            "http://c:4318/t",
        ),
    ],
)
def test_the_otlp_endpoint_ignores_empty_variables(environ: dict[str, str], endpoint: str | None) -> None:
    assert tracing.otlp_endpoint(environ) == endpoint


def test_the_docs_say_how_to_turn_tracing_on() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("\n## Configuration\n") :]
    table = table[: table.find("\n## ", 5)]
    for name in (tracing.EXPORTER_ENV, *tracing.ENDPOINT_ENVS, tracing.SERVICE_ENV, tracing.DISABLED_ENV):
        assert f"| `{name}` |" in table, f"README.md's configuration table has no row for {name}"
    assert "orders dev [--port 7233]" in readme and "[--trace]" in readme
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = operations[operations.index("\n## Tracing\n") :]
    for needed in ("orders dev --trace", "--profile tracing", "service-orders[tracing]", "http://localhost:16686"):
        assert needed in section, f"docs/operations.md's Tracing section does not mention {needed}"


def test_exception_messages_never_leave_the_process(traced: InMemorySpanExporter) -> None:
    """An error's message may quote a customer (a refused address): spans keep its type only."""
    assert tracing._provider is not None
    tracer = tracing._provider.get_tracer("test")
    with (
        pytest.raises(ValueError),
        tracer.start_as_current_span("RunActivity:send_email", set_status_on_exception=False) as span,
    ):
        span.set_status(StatusCode.ERROR, "ApplicationError: invalid address alice@example.com")
        raise ValueError("alice@example.com bounced")
    [exported] = traced.get_finished_spans()
    assert exported.status.status_code == StatusCode.ERROR and exported.status.description == "ApplicationError"
    [event] = exported.events
    assert event.name == "exception" and dict(event.attributes or {}) == {"exception.type": "ValueError"}
    assert exported.name == "RunActivity:send_email" and exported.context == span.get_span_context()


def test_a_worker_with_an_unknown_exporter_stops_with_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_TRACES_EXPORTER": "jaeger", "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "error: OTEL_TRACES_EXPORTER='jaeger': unknown exporter jaeger" in result.stderr
