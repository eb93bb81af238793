"""Each Stripe and SendGrid request is a CLIENT span in the activity's trace: method, host, status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from temporalio.exceptions import ApplicationError

from activities.config import Settings
from activities.email_ledger import SentLedger
from activities.outgoing import OutgoingEmail
from activities.payments import PaymentActivities
from activities.sendgrid_backend import SendGridBackend
from orderclient import tracing
from tests.activities.test_stripe_activities import charge, charge_request, stripe_api, stripe_settings
from tests.doubles.sendgrid_api import TEST_API_KEY, Reply, SendGridDouble
from tests.spans import traced

__all__ = ["stripe_api", "stripe_settings"]  # the Stripe double's fixtures, used here too


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with traced() as exporter:
        yield exporter


def http_spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def assert_only_http_attributes(span: ReadableSpan) -> None:
    assert span.kind == SpanKind.CLIENT
    assert set(span.attributes or {}) <= {
        "http.request.method",
        "server.address",
        "server.port",
        "peer.service",
        "http.response.status_code",
        "error.type",
    }
    assert not span.events


def email(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "order_id": "acme-42",
        "kind": "contact_ack",
        "message_key": "acme-42:contact_ack",
        "from_email": "orders@example.com",
        "from_name": None,
        "reply_to": None,
        "to_email": "jane.doe@acme.example",
        "to_name": "Jane Doe",
        "subject": "We received your request",
        "text": "Hello Jane",
        "html": "<p>Hello Jane</p>",
    }
    values.update(overrides)
    return OutgoingEmail(**values)


async def test_a_stripe_request_is_a_client_span_with_method_host_and_status(
    stripe_settings: Settings, spans: InMemorySpanExporter
) -> None:
    from activities.stripe_payments import StripeGateway

    payments = PaymentActivities(stripe_settings, StripeGateway.from_settings(stripe_settings))
    await charge(payments, charge_request())
    [span] = http_spans(spans, "POST Stripe")
    assert_only_http_attributes(span)
    attributes = span.attributes or {}
    assert attributes["http.request.method"] == "POST" and attributes["server.address"] == "127.0.0.1"
    assert attributes["http.response.status_code"] == 200 and attributes["peer.service"] == "stripe"


@pytest.mark.parametrize("ledger", [False, True])
def test_a_sendgrid_request_is_a_client_span_in_the_callers_trace(
    sendgrid_api: SendGridDouble, spans: InMemorySpanExporter, tmp_path: Any, ledger: bool
) -> None:
    backend = SendGridBackend(
        TEST_API_KEY, host=sendgrid_api.url, timeout=5, ledger=SentLedger(tmp_path / "sent.db") if ledger else None
    )
    tracer = tracing._provider.get_tracer("test")
    with tracer.start_as_current_span("RunActivity:send_email") as parent:
        backend.send(email())
    [span] = http_spans(spans, "POST SendGrid")
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert_only_http_attributes(span)
    assert (span.attributes or {})["http.response.status_code"] == 202


def test_a_refused_sendgrid_request_records_its_status_not_its_message(
    sendgrid_api: SendGridDouble, spans: InMemorySpanExporter
) -> None:
    sendgrid_api.script(Reply.bad_request())
    backend = SendGridBackend(TEST_API_KEY, host=sendgrid_api.url, timeout=5)
    with pytest.raises(ApplicationError):
        backend.send(email())
    [span] = http_spans(spans, "POST SendGrid")
    assert_only_http_attributes(span)
    assert (span.attributes or {})["http.response.status_code"] == 400
    assert span.status.status_code == StatusCode.ERROR and "Sender Identity" not in (span.status.description or "")
