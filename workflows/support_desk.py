"""The support desk (seed 5.1): open the period's ticket, forward requests into it, close it.

The desk is only informed: the customer's emails do not wait for its ticket
(``SUPPORT_DESK_BESIDE_EMAILS``), but a forwarded request waits until the
ticket is open, so it lands on it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import email_contexts as contexts
from workflows import facts
from workflows.activity_refs import SupportRefs
from workflows.activity_refs import reason as why_failed
from workflows.continuation import Effects
from workflows.details import log
from workflows.mail import Mail
from workflows.models import SUPPORT_DESK as DESK
from workflows.models import (
    Audience,
    CloseSupportRequest,
    EmailRequest,
    ForwardSupportRequest,
    MessageKind,
    OrderState,
    SupportPeriodRequest,
    SupportRequest,
)
from workflows.models import TimelineKind as TL

SUPPORT_TIMEOUT = timedelta(seconds=30)
SUPPORT_GIVE_UP = timedelta(hours=6)

# workflow.patched id: before it, the customer's support emails waited for the desk.
SUPPORT_DESK_BESIDE_EMAILS = "support-desk-beside-customer-emails"


class SupportDesk:
    """The support team's desk, told of the period and of each request."""

    def __init__(self, state: OrderState, effects: Effects, mail: Mail) -> None:
        self._state = state
        self._effects = effects
        self._mail = mail
        self.opening = False  # the desk is still opening its ticket

    async def open(self, notice: EmailRequest) -> None:
        """Register the period's ticket; the desk's activity sends the team's notice."""
        window = facts.require(self._state.order.support, "support window")
        try:
            ticket = await workflow.execute_activity_method(
                SupportRefs.open_support_period,
                SupportPeriodRequest(
                    order_id=self._state.order.order_id,
                    opened_at=window.opened_at,
                    ends_at=window.ends_at,
                    scope=window.scope,
                    notice=notice,
                ),
                start_to_close_timeout=SUPPORT_TIMEOUT,
                schedule_to_close_timeout=SUPPORT_GIVE_UP,
                summary="open support period",
            )
            window.ticket = ticket.ticket
            # The desk's activity sent the team's notice: count it with the order's other emails.
            log(self._state, TL.EMAIL_SENT, email=notice.kind, audience=notice.audience, via=DESK, ticket=ticket.ticket)
        except ActivityError as error:
            # The customer's support period stands even if the desk missed the notice.
            self._mail.record_failure(notice, error)
        finally:
            self.opening = False

    async def close(self) -> None:
        """Tell the desk the period ended."""
        window = facts.require(self._state.order.support, "support window")
        closed_at = facts.require(window.closed_at, "support closing date")
        try:
            await workflow.execute_activity_method(
                SupportRefs.close_support_period,
                CloseSupportRequest(order_id=self._state.order.order_id, ticket=window.ticket, closed_at=closed_at),
                start_to_close_timeout=SUPPORT_TIMEOUT,
                schedule_to_close_timeout=SUPPORT_GIVE_UP,
                summary="close support period",
            )
        except ActivityError as error:
            log(self._state, TL.SUPPORT_DESK_CLOSE_FAILED, error=why_failed(error))

    async def forward(self, request: SupportRequest) -> None:
        """Forward a customer's request to the desk, and acknowledge it to the customer."""
        ack = {"request": request.model_dump(mode="json"), "support": contexts.support_context(self._state)}
        beside = workflow.patched(SUPPORT_DESK_BESIDE_EMAILS)
        if beside:
            # The customer hears at once; the desk gets the request once it has opened its ticket.
            self._effects.spawn(self._mail.send(MessageKind.SUPPORT_REQUEST_ACK, Audience.CUSTOMER, ack))
            await workflow.wait_condition(lambda: not self.opening)
        window = self._state.order.support
        notice = self._mail.request(
            MessageKind.SUPPORT_REQUEST_FORWARDED, Audience.SUPPORT, request=request.model_dump(mode="json")
        )
        try:
            async with self._mail.in_flight:
                await workflow.execute_activity_method(
                    SupportRefs.forward_support_request,
                    ForwardSupportRequest(
                        order_id=self._state.order.order_id, ticket=window.ticket if window else None, notice=notice
                    ),
                    start_to_close_timeout=SUPPORT_TIMEOUT,
                    schedule_to_close_timeout=SUPPORT_GIVE_UP,
                    summary=f"forward support request {len(self._state.order.support_requests)}",
                )
        except ActivityError as error:
            # The request is on the order either way; operations are told it did not reach the desk.
            self._mail.record_failure(notice, error)
        else:
            log(self._state, TL.EMAIL_SENT, email=notice.kind, audience=notice.audience, via=DESK)
        if not beside:
            await self._mail.send(MessageKind.SUPPORT_REQUEST_ACK, Audience.CUSTOMER, ack)
