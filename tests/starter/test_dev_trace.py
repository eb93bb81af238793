"""``orders dev --trace``: spans to the console, or to a local OTLP endpoint when one is set."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from orderclient import tracing
from tests.helpers import free_port
from tests.starter.test_cli_e2e import ORDERS, user_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, ["console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none"}, ["console"]),  # --trace asks for spans
        ({"OTEL_SDK_DISABLED": "true"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
    ],
)
def test_trace_sends_spans_to_the_endpoint_if_set_else_the_console(
    environ: dict[str, str], exporters: list[str]
) -> None:
    assert tracing.exporters_from_env(tracing.forced_environment(environ)) == exporters


class OtlpReceiver:
    """A local OTLP/HTTP endpoint: keeps every span name it receives on ``/v1/traces``."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.services: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces":
                    receiver.keep(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keep(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    self.services.append(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                self.names += [span.name for span in scope_spans.spans]


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.server.shutdown()


def run_dev_and_open_the_contact_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> str:
    """``orders dev --trace``, one ``GET /contact`` on its portal, then Ctrl-C; its output."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    port, ui_port, codec_port, portal_port = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in user_env(**extra).items() if not k.startswith("OTEL_") or k in extra}
    env["ORDERS_WEB_BASE_URL"] = f"http://127.0.0.1:{portal_port}"
    command = [ORDERS, "dev", "--trace", "--port", str(port), "--ui-port", str(ui_port)]
    command += ["--db", str(tmp_path / "t.db"), "--codec-port", str(codec_port), "--outbox", str(tmp_path / "outbox")]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 60
        contact = None
        while contact is None:
            assert process.poll() is None and time.monotonic() < deadline, "orders dev did not serve the portal"
            try:
                contact = httpx.get(f"http://127.0.0.1:{portal_port}/contact", timeout=10)
            except httpx.TransportError:
                time.sleep(0.2)
        assert contact.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


def test_orders_dev_trace_prints_spans_to_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = run_dev_and_open_the_contact_page(tmp_path, monkeypatch)
    assert "Tracing    spans to the console" in output
    assert '"name": "GET /contact"' in output and '"service.name": "orders-dev"' in output


def test_orders_dev_trace_sends_spans_to_a_local_otlp_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, otlp: OtlpReceiver
) -> None:
    output = run_dev_and_open_the_contact_page(tmp_path, monkeypatch, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)
    assert f"Tracing    spans to {otlp.url}/v1/traces (OTLP)" in output
    assert "GET /contact" in otlp.names and "orders-dev" in otlp.services
    assert '"name": "GET /contact"' not in output
