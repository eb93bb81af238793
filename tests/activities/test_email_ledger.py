"""The durable record of SendGrid attempts: what a restarted worker knows.

Each "worker" here is a fresh ``EmailActivities`` with a fresh backend built
from settings, as after a restart: nothing survives but the ledger file.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import Settings
from activities.email import EmailActivities, OutboxBackend, backend_from_settings
from activities.email_ledger import KEEP, SentLedger
from activities.sendgrid_backend import SendGridBackend
from tests.activities.email_samples import sample_request
from tests.doubles.sendgrid_api import Reply, SendGridDouble
from workflows.models import EmailReceipt, EmailRequest, MessageKind


def worker(settings: Settings) -> EmailActivities:
    """A freshly started worker's email activity."""
    return EmailActivities(settings, backend_from_settings(settings))


async def send(acts: EmailActivities, request: EmailRequest) -> EmailReceipt:
    receipt: EmailReceipt = await ActivityEnvironment().run(acts.send_email, request)
    return receipt


async def failure(acts: EmailActivities, request: EmailRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await send(acts, request)
    return caught.value


async def send_retrying(acts: EmailActivities, request: EmailRequest, attempts: int = 20) -> EmailReceipt:
    """Like Temporal's retry policy: a retryable failure is tried again."""
    for _ in range(attempts - 1):
        try:
            return await send(acts, request)
        except ApplicationError as error:
            assert not error.non_retryable, error
            time.sleep(0.05)
    return await send(acts, request)


def test_the_ledger_is_on_by_default_in_the_outbox_directory(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    assert Settings.from_env({"ORDERS_OUTBOX_DIR": str(outbox)}).email_ledger == outbox / ".sent.sqlite"
    assert Settings.from_env({"ORDERS_EMAIL_LEDGER": "/data/sent.sqlite"}).email_ledger == Path("/data/sent.sqlite")
    assert Settings.from_env({"ORDERS_EMAIL_LEDGER": "off"}).email_ledger is None


async def test_a_restarted_worker_does_not_resend_an_accepted_message(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    request = sample_request(MessageKind.DELIVERED)
    first = await send(worker(sendgrid_settings), request)

    again = await send(worker(sendgrid_settings), request)  # a new process: only the file is shared

    assert again.message_id == first.message_id
    assert len(sendgrid_api.requests) == 1


async def test_without_the_ledger_a_restarted_worker_sends_again(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    settings = replace(sendgrid_settings, email_ledger=None)  # ORDERS_EMAIL_LEDGER=off: the old behaviour
    request = sample_request(MessageKind.DELIVERED)
    await send(worker(settings), request)
    await send(worker(settings), request)
    assert len(sendgrid_api.requests_for(message_key=request.message_key)) == 2


async def test_a_slow_answer_is_awaited_by_the_retry_not_sent_twice(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    sendgrid_api.script(Reply.slow(1.0))
    acts = worker(replace(sendgrid_settings, sendgrid_timeout=0.3))
    request = sample_request(MessageKind.CONTACT_ACK)

    error = await failure(acts, request)
    assert error.type == "SendGridUnavailable" and not error.non_retryable
    receipt = await send_retrying(acts, request)  # retries wait for the first request's answer

    [only] = sendgrid_api.requests_for(message_key=request.message_key)
    assert only.accepted and receipt.message_id == only.reply_headers["X-Message-Id"]


async def test_a_retry_after_a_definite_failure_sends(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    sendgrid_api.script(Reply.server_error(503))
    request = sample_request(MessageKind.CONTACT_ACK)
    await failure(worker(sendgrid_settings), request)

    await send(worker(sendgrid_settings), request)

    statuses = [r.status for r in sendgrid_api.requests_for(message_key=request.message_key)]
    assert statuses == [503, 202]
    assert sendgrid_settings.email_ledger
    entry = SentLedger(sendgrid_settings.email_ledger).get(request.message_key)
    assert entry is not None and (entry.state, entry.attempts) == ("accepted", 2)


async def test_a_lost_answer_is_sent_again_at_least_once(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    """SendGrid has no idempotency key: after an answer that never came, nobody
    can know whether it went out. The retry sends; the duplicate carries the
    same ``custom_args.message_key``, so it can be found in SendGrid's activity."""
    sendgrid_api.script(Reply.lost())
    request = sample_request(MessageKind.CONTACT_ACK)
    await failure(worker(sendgrid_settings), request)

    await send(worker(sendgrid_settings), request)

    sent = sendgrid_api.requests_for(message_key=request.message_key)
    assert [r.accepted for r in sent] == [True, True]
    assert {r.custom_args["message_key"] for r in sent} == {request.message_key}


async def test_an_acceptance_answered_with_a_server_error_is_sent_again(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    """The double's other lost acceptance: the message went out, the answer was a 500.
    The sender reads a failure, so the retry sends it again: a duplicate the fault suite counts."""
    sendgrid_api.script(Reply.accepted_then_error(500))
    request = sample_request(MessageKind.CONTACT_ACK)
    await failure(worker(sendgrid_settings), request)

    await send(worker(sendgrid_settings), request)

    sent = sendgrid_api.requests_for(message_key=request.message_key)
    assert [(r.status, r.accepted) for r in sent] == [(500, True), (202, True)]


async def test_a_retry_waits_for_an_attempt_of_a_worker_that_died_then_sends(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble, tmp_path: Path
) -> None:
    """A row left ``sending`` by a dead worker holds retries for ``answer_wait``, no longer."""
    assert sendgrid_settings.email_ledger
    request = sample_request(MessageKind.CONTACT_ACK)
    SentLedger(sendgrid_settings.email_ledger).start(request.message_key)  # and then the worker died
    backend = SendGridBackend.from_settings(replace(sendgrid_settings, sendgrid_timeout=0.3))
    backend.answer_wait = 0.6
    acts = EmailActivities(sendgrid_settings, backend)

    error = await failure(acts, request)
    assert "still waiting" in error.message and not sendgrid_api.requests
    time.sleep(0.4)
    await send(acts, request)
    assert len(sendgrid_api.requests_for(message_key=request.message_key)) == 1


def test_the_ledger_prunes_what_no_retry_can_ask_for(tmp_path: Path) -> None:
    ledger = SentLedger(tmp_path / "sent.sqlite")
    now = time.time()
    ledger.start("old", now=now - KEEP.total_seconds() - 60)
    ledger.finish("old", "accepted", "id-1")
    ledger.start("recent", now=now - 60)

    assert ledger.prune(now=now) == 1
    assert ledger.get("old") is None and ledger.get("recent") is not None
    assert len(SentLedger(tmp_path / "sent.sqlite")) == 1, "opening prunes too, and keeps the rest"


def test_an_accepted_row_is_never_downgraded(tmp_path: Path) -> None:
    ledger = SentLedger(tmp_path / "sent.sqlite")
    ledger.start("k")
    ledger.finish("k", "accepted", "id-1")
    ledger.finish("k", "unknown")
    entry = ledger.get("k")
    assert entry is not None and (entry.state, entry.message_id) == ("accepted", "id-1")


async def test_the_outbox_writes_a_message_key_once_across_restarts(settings: Settings) -> None:
    request = sample_request(MessageKind.DELIVERED)
    first = await send(EmailActivities(settings, OutboxBackend(settings.outbox_dir)), request)
    again = await send(EmailActivities(settings, OutboxBackend(settings.outbox_dir)), request)
    assert again.message_id == first.message_id
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1
