"""SendGrid delivery under a real worker, on the time-skipping server.

The worker is ``worker.build_worker`` with settings pointing at the SendGrid
double, so these run the real activity, the real ``SendGridAPIClient`` and
the workflow's retry policy and failed-email handling.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.doubles.sendgrid_api import TEST_API_KEY, Reply, SendGridDouble
from tests.helpers import draft, eventually, finished, start_order, view
from workflows import names
from workflows.mail import EMAIL_RETRY
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    DeliverInput,
    IssueConfirmationInput,
    OrderStatus,
    OrderView,
    RecordPaymentInput,
    SupportRequestInput,
)


@pytest.fixture
def sg_settings(settings: Settings, sendgrid_api: SendGridDouble) -> Settings:
    return replace(
        settings,
        email_backend="sendgrid",
        sendgrid_api_key=TEST_API_KEY,
        sendgrid_api_base=sendgrid_api.url,
        sendgrid_timeout=5.0,
    )


def accepted(api: SendGridDouble, kind: str, order_id: str | None = None) -> bool:
    return any(
        r.accepted and (order_id is None or r.custom_args.get("order_id") == order_id)
        for r in api.requests_for(kind=kind)
    )


async def once_recorded(handle: WorkflowHandle[Any, Any]) -> OrderView:
    """The order once it has recorded an email as sent: SendGrid accepts it a moment
    before the activity's result reaches the order."""

    async def recorded() -> bool:
        return any(e.event == "email sent" for e in (await view(handle)).timeline)

    await eventually(recorded, "the email recorded as sent")
    return await view(handle)


async def test_rate_limited_email_is_sent_once_after_the_reset(
    ts_env: WorkflowEnvironment, sg_settings: Settings, sendgrid_api: SendGridDouble, task_queue: str
) -> None:
    # The reset is 1 s away, sooner than the retry policy's first interval (2 s).
    sendgrid_api.script(Reply.rate_limited(reset_in=1, aligned=True), kind="contact_ack")
    async with make_worker(ts_env.client, sg_settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await eventually(lambda: accepted(sendgrid_api, "contact_ack"), "contact_ack accepted after the 429")
        order = await once_recorded(handle)

    first, second = sendgrid_api.requests_for(kind="contact_ack")
    assert (first.status, second.status) == (429, 202)
    assert first.message_key == second.message_key
    assert first.answered_at is not None
    reset = int(first.reply_headers["X-RateLimit-Reset"])
    assert second.received_at >= reset - 0.02, "retried before X-RateLimit-Reset"
    assert second.received_at - first.answered_at < EMAIL_RETRY.initial_interval.total_seconds() - 0.1, (
        "the retry waited for the policy's interval, not for X-RateLimit-Reset"
    )
    sent = [e.detail for e in order.timeline if e.event == "email sent"]
    assert any("contact_ack" in d and second.reply_headers["X-Message-Id"] in d for d in sent), sent
    assert order.failed_emails == []


async def test_server_error_then_success(
    ts_env: WorkflowEnvironment, sg_settings: Settings, sendgrid_api: SendGridDouble, task_queue: str
) -> None:
    sendgrid_api.script(Reply.server_error(500), kind="contact_ack")
    async with make_worker(ts_env.client, sg_settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await eventually(lambda: len(sendgrid_api.requests_for(kind="contact_ack")) == 1, "the 500")
        await ts_env.sleep(timedelta(seconds=3))  # skips the retry policy's first interval
        await eventually(lambda: accepted(sendgrid_api, "contact_ack"), "contact_ack accepted after the 500")
        order = await once_recorded(handle)

    assert [r.status for r in sendgrid_api.requests_for(kind="contact_ack")] == [500, 202]
    assert order.failed_emails == []
    assert any(e.event == "email sent" and "contact_ack" in e.detail for e in order.timeline)


async def test_bad_request_is_recorded_alerted_and_the_order_continues(
    ts_env: WorkflowEnvironment,
    sg_settings: Settings,
    sendgrid_api: SendGridDouble,
    task_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sendgrid_api.script(Reply.bad_request(), kind="contact_ack")
    with caplog.at_level(logging.DEBUG):
        async with make_worker(ts_env.client, sg_settings, task_queue):
            handle = await start_order(ts_env.client, task_queue)
            await eventually(lambda: accepted(sendgrid_api, "email_failed"), "operations alerted")
            await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
            await eventually(lambda: accepted(sendgrid_api, "confirmation_issued"), "confirmation sent")
            order: OrderView = await view(handle)

    [ack] = sendgrid_api.requests_for(kind="contact_ack")  # not retried
    assert ack.status == 400
    [failed] = order.failed_emails
    assert (failed.kind, failed.audience, failed.message_key) == ("contact_ack", "customer", ack.message_key)
    assert failed.error_type == "SendGridBadRequest"
    assert "does not match a verified Sender Identity" in failed.error
    assert any(e.event == "email failed" and "contact_ack" in e.detail for e in order.timeline)

    [alert] = sendgrid_api.requests_for(kind="email_failed")
    assert alert.to == ["ops@example.com"]
    assert alert.body["categories"] == ["email_failed"]
    assert alert.custom_args["order_id"] == order.order_id
    text = alert.body["content"][0]["value"]
    assert "SendGridBadRequest" in text and ack.message_key in text

    assert order.status is OrderStatus.AWAITING_APPROVAL
    assert TEST_API_KEY not in caplog.text and "Bearer" not in caplog.text
    assert "SendGridBadRequest" in caplog.text  # the worker did log the failure


async def test_a_slow_sendgrid_never_blocks_the_worker(
    ts_env: WorkflowEnvironment, sg_settings: Settings, sendgrid_api: SendGridDouble, task_queue: str
) -> None:
    hold = 2.0
    sendgrid_api.script(Reply.slow(hold), kind="contact_ack")
    async with make_worker(ts_env.client, sg_settings, task_queue):
        slow = await start_order(ts_env.client, task_queue)
        await eventually(lambda: len(sendgrid_api.requests_for(kind="contact_ack")) == 1, "slow request in flight")
        [held] = sendgrid_api.requests_for(kind="contact_ack")

        # While that request is held, another order runs: its first workflow
        # task, its own email, a signal and a query all complete.
        started = time.monotonic()
        other = await start_order(ts_env.client, task_queue)
        await other.signal(names.ADD_NOTE, AddNoteInput(text="Also needs a newsletter", author="customer"))
        other_view = await view(other)
        other_id = other_view.order_id
        await eventually(lambda: accepted(sendgrid_api, "contact_ack", other_id), "the other order's email")
        elapsed = time.monotonic() - started

        assert [n.text for n in other_view.notes] == ["Also needs a newsletter"]
        assert held.status is None, "the slow request should still be in flight"
        assert elapsed < hold / 2, f"the other order took {elapsed:.2f} s while SendGrid was slow"

        await eventually(lambda: held.status == 202, "the slow request answered")

        async def slow_email_recorded() -> bool:
            return any(e.event == "email sent" for e in (await view(slow)).timeline)

        await eventually(slow_email_recorded, "the slow order records its email")
    assert held.answered_at is not None and held.answered_at - held.received_at >= hold - 0.1


async def test_support_desk_refusals_never_fail_the_order(
    ts_env: WorkflowEnvironment, sg_settings: Settings, sendgrid_api: SendGridDouble, task_queue: str
) -> None:
    sendgrid_api.script(Reply.bad_request(), kind="support_team_notice")
    sendgrid_api.script(Reply.bad_request(), kind="support_request_forwarded")
    async with make_worker(ts_env.client, sg_settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
        await handle.signal(names.APPROVE, ApproveInput(version=1))
        await eventually(lambda: accepted(sendgrid_api, "payment_requested"), "payment requested")
        await handle.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await handle.signal(names.DELIVER, DeliverInput(summary="Done"))
        await handle.signal(names.ACCEPT, AcceptInput())
        await handle.signal(names.REQUEST_SUPPORT, SupportRequestInput(subject="Login", text="Fails"))
        result = await finished(handle)

    assert result.status is OrderStatus.COMPLETED
    assert {f.kind for f in result.failed_emails} == {"support_team_notice", "support_request_forwarded"}
    assert len([r for r in sendgrid_api.requests_for(kind="email_failed") if r.accepted]) == 2
