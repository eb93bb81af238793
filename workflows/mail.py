"""Sending the order's emails beside the process, and what happens when one fails.

What each email says is in workflows/email_contexts.py; this part numbers the
messages (their idempotency keys), sends them through the email activity with
its timeouts, keeps at most ``MESSAGES_IN_FLIGHT`` in flight, and records a
failure (and tells operations) instead of stalling the order.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import email_contexts, facts
from workflows.activity_refs import EmailRefs, reason
from workflows.certificates import Certificates
from workflows.continuation import Effects
from workflows.details import log
from workflows.models import Audience, EmailReceipt, EmailRequest, FailedEmail, MessageKind, OrderState
from workflows.models import TimelineKind as TL

EMAIL_TIMEOUT = timedelta(seconds=30)
# An email that still fails after this long is recorded as failed; the order
# goes on without it rather than stalling.
EMAIL_GIVE_UP = timedelta(hours=6)
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10))
# Emails and forwarded requests in flight at once: a burst of large actions
# must not put hundreds of 20 KB activity inputs into one workflow task's
# completion, which the server refuses past its 4 MB message limit.
MESSAGES_IN_FLIGHT = 20


class Mail:
    """The order's outgoing messages."""

    def __init__(self, state: OrderState, effects: Effects) -> None:
        self._state = state
        self._effects = effects
        self.in_flight = asyncio.Semaphore(MESSAGES_IN_FLIGHT)
        # Gives the first customer email after the order closed its last evidence certificate.
        self.certificates: Certificates | None = None

    def email(self, kind: MessageKind, audience: Audience = Audience.CUSTOMER, **context: Any) -> None:
        """Send without holding up the process; the order closes only after it went."""
        self._effects.spawn(self.send(kind, audience, context))

    def request(self, kind: MessageKind, audience: Audience, **context: Any) -> EmailRequest:
        """The next message of the order, numbered so that a retry sends it once."""
        self._state.email_seq += 1
        order = self._state.order
        customer = order.customer
        return EmailRequest(
            order_id=order.order_id,
            kind=kind,
            audience=audience,
            to_email=customer.email if audience is Audience.CUSTOMER else None,
            to_name=customer.name if audience is Audience.CUSTOMER else None,
            message_key=facts.key(self._state, f"email:{self._state.email_seq}:{kind}"),
            context={"order": email_contexts.order_context(self._state), **context},
        )

    async def send(self, kind: MessageKind, audience: Audience, context: dict[str, Any]) -> EmailReceipt | None:
        """Send one message; its receipt, or None when it failed and was recorded as failed."""
        request = self.request(kind, audience, **context)
        if self.certificates is not None:
            request.certificate = self.certificates.for_closing_email(audience)
        receipt = await self._send(request)
        if request.certificate is not None and self.certificates is not None:
            self.certificates.closing_email_sent(receipt)
        return receipt

    async def _send(self, request: EmailRequest) -> EmailReceipt | None:
        kind, audience = request.kind, request.audience
        try:
            async with self.in_flight:
                receipt = await workflow.execute_activity_method(
                    EmailRefs.send_email,
                    request,
                    start_to_close_timeout=EMAIL_TIMEOUT,
                    schedule_to_close_timeout=EMAIL_GIVE_UP,
                    retry_policy=EMAIL_RETRY,
                    summary=f"email {kind} to {audience}",
                )
        except ActivityError as error:
            # A lost email must not stall the order: record it, tell operations, carry on.
            self.record_failure(request, error)
            return None
        log(
            self._state,
            TL.EMAIL_SENT,
            email=kind,
            audience=audience,
            via=receipt.backend,
            message_id=receipt.message_id,
        )
        return receipt

    def record_failure(self, request: EmailRequest, error: ActivityError) -> None:
        cause = error.cause if isinstance(error.cause, ApplicationError) else None
        failure = FailedEmail(
            at=workflow.now(),
            kind=request.kind,
            audience=request.audience,
            message_key=request.message_key,
            error=reason(error),
            error_type=cause.type if cause else None,
        )
        self._state.order.failed_emails.append(failure)
        log(self._state, TL.EMAIL_FAILED, email=request.kind, audience=request.audience, error=failure.error)
        if request.audience is not Audience.OPERATIONS:
            self.email(MessageKind.EMAIL_FAILED, Audience.OPERATIONS, failure=failure.model_dump(mode="json"))
