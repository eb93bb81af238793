"""One customer action is one trace: the portal's POST, the update, the workflow's handling of
it, the ``send_email`` activity and its SendGrid request share a trace id, and no span, event
or header carries the customer's name or email.

The portal, the worker and the client run in this process (``running_portal``) on the dev
server, tracing into memory as ``OTEL_*`` would make them trace to a collector. Payloads are
encrypted, as in production: the trace context travels in its own header, and the codec still
encrypts every payload.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.sdk.trace import ReadableSpan
from temporalio.testing import WorkflowEnvironment

from orderclient import connection
from ordersecurity.codec import ENCODING, KEYS_ENV, new_key_entry
from tests.doubles.sendgrid_api import TEST_API_KEY, SendGridDouble, serve
from tests.helpers import ALICE, draft, eventually, start_input
from tests.orderweb.portal_harness import PortalHarness, running_portal
from tests.orderweb.test_portal_security import hidden
from tests.spans import traced
from workflows.models import IssueConfirmationInput

HEADER = "_tracer-data"  # TracingInterceptor's header: the W3C trace context, nothing else
PERSONAL = (ALICE.name, ALICE.email, ALICE.company or "ACME GmbH")


@pytest.fixture
def sendgrid_api() -> Iterator[SendGridDouble]:
    yield from serve()


def confirmation_link(api: SendGridDouble, portal: PortalHarness, order_id: str) -> str | None:
    for request in api.requests_for(kind="confirmation_issued"):
        if request.custom_args.get("order_id") == order_id:
            text = " ".join(part["value"] for part in request.body["content"])
            found = re.search(re.escape(portal.url) + r"(/orders/[^\s\"<]+)", text)
            return found.group(1).replace("&amp;", "&") if found else None
    return None


def named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert found, f"no span {name!r} in {sorted(span.name for span in spans)}"
    return found[0]


def texts_of(span: ReadableSpan) -> list[str]:
    """Everything a span would show an operator: its name, status, attributes, events and links."""
    texts = [span.name, span.status.description or ""]
    texts += [f"{key}={value!s}" for key, value in (span.attributes or {}).items()]
    for event in span.events:
        texts += [event.name, *(f"{key}={value!s}" for key, value in (event.attributes or {}).items())]
    for link in span.links:
        texts += [f"{key}={value!s}" for key, value in (link.attributes or {}).items()]
    return texts


async def test_a_portal_approval_is_one_trace_without_personal_data(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sendgrid_api: SendGridDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEYS_ENV, new_key_entry("trace1"))
    email = {
        "email_backend": "sendgrid",
        "sendgrid_api_key": TEST_API_KEY,
        "sendgrid_api_base": sendgrid_api.url,
        "sendgrid_timeout": 5.0,
    }
    with traced() as exporter:
        client = await connection.connect(dev_env.client.service_client.config.target_host)
        async with (
            running_portal(client, tmp_path, task_queue, stripe_settings=email) as portal,
            httpx.AsyncClient(base_url=portal.url, follow_redirects=False, timeout=30) as http,
        ):
            start = start_input()
            order_id = start.order_id
            await portal.orders.start(start)
            await portal.orders.act(order_id, IssueConfirmationInput(confirmation=draft()))
            await eventually(lambda: confirmation_link(sendgrid_api, portal, order_id), "the confirmation email")
            link = confirmation_link(sendgrid_api, portal, order_id)
            assert link is not None
            fields = hidden((await http.get(link)).text, "/approve")
            approved = await http.post(f"/orders/{order_id}/confirmation/1/approve", data=fields)
            assert approved.status_code == 303
            # The portal still sees the request as it came: the scrubbed copy is the span's alone.
            decision = (await portal.orders.status(order_id)).confirmations[0].decision
            assert decision is not None and decision.client_ip == "127.0.0.1" and decision.user_agent

            post = named(exporter.get_finished_spans(), f"POST /orders/{order_id}/confirmation/1/approve")

            def in_trace() -> list[ReadableSpan]:
                return [s for s in exporter.get_finished_spans() if s.context.trace_id == post.context.trace_id]

            await eventually(lambda: any(s.name == "POST SendGrid" for s in in_trace()), "the approval's email sent")
            history = await portal.orders.handle(order_id).fetch_history()

    spans = in_trace()
    for name in (
        "StartWorkflowUpdate:approve",
        "HandleUpdate:approve",
        "StartActivity:send_email",
        "RunActivity:send_email",
        "POST SendGrid",
    ):
        named(spans, name)
    assert (named(spans, "POST SendGrid").attributes or {})["http.response.status_code"] == 202
    # The web span sees neither the signed token nor the customer's address or browser.
    post_attributes = post.attributes or {}
    assert "client.address" not in post_attributes and "user_agent.original" not in post_attributes

    token = link.split("token=")[1]
    every = exporter.get_finished_spans()
    assert len(every) > len(spans)  # the start, the pages, the confirmation: their own traces
    for span in every:
        for text in texts_of(span):
            for secret in (*PERSONAL, token):
                assert secret not in text, f"{secret!r} in span {span.name!r}: {text}"

    # The trace context rides in a header of its own: a traceparent, no baggage; payloads stay encrypted.
    events = [MessageToDict(event) for event in history.events]
    for secret in PERSONAL:
        assert secret not in json.dumps(events)
    headers = [fields[HEADER] for fields in found(events, "fields") if HEADER in fields]
    carriers = [json.loads(base64.b64decode(header["data"])) for header in headers]
    assert carriers, "no trace context header in the history"
    for carrier in carriers:
        assert set(carrier) <= {"traceparent", "tracestate"}, carrier
    encodings = {base64.b64decode(m["encoding"]) for m in found(events, "metadata") if "encoding" in m}
    assert ENCODING in encodings


def found(value: Any, key: str) -> Iterator[Any]:
    """Every value under ``key`` anywhere in ``value`` (a history event as a dict)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key:
                yield item
            yield from found(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from found(item, key)
