"""The support period (seed 5.1): open it, forward requests into it, close it.

The default support desk is the support team's mailbox: opening registers a
ticket reference and tells the team, a customer request is forwarded there,
and closing is logged. A ticketing system (Zendesk, Jira Service Management)
would replace these three bodies, not the workflow.
"""

from __future__ import annotations

from temporalio import activity

from activities.email import EmailActivities
from workflows.activity_refs import SupportRefs
from workflows.models import (
    CloseSupportRequest,
    ForwardSupportRequest,
    SupportPeriodRequest,
    SupportTicket,
)
from workflows.names import CLOSE_SUPPORT, FORWARD_SUPPORT_REQUEST, OPEN_SUPPORT


def ticket_for(order_id: str) -> str:
    # Derived, not generated, so a retried open lands on the same ticket.
    return f"SUP-{order_id}"


class SupportActivities(SupportRefs):
    def __init__(self, email: EmailActivities) -> None:
        self._email = email

    @activity.defn(name=OPEN_SUPPORT)
    async def open_support_period(self, request: SupportPeriodRequest) -> SupportTicket:
        ticket = ticket_for(request.order_id)
        notice = request.notice.model_copy(deep=True)
        notice.context.setdefault("support", {})["ticket"] = ticket
        await self._email.send_email(notice)
        activity.logger.info("support period opened", extra={"order_id": request.order_id, "ticket": ticket})
        return SupportTicket(ticket=ticket)

    @activity.defn(name=FORWARD_SUPPORT_REQUEST)
    async def forward_support_request(self, request: ForwardSupportRequest) -> None:
        notice = request.notice.model_copy(deep=True)
        notice.context["ticket"] = request.ticket
        await self._email.send_email(notice)

    @activity.defn(name=CLOSE_SUPPORT)
    async def close_support_period(self, request: CloseSupportRequest) -> None:
        activity.logger.info("support period closed", extra={"order_id": request.order_id, "ticket": request.ticket})
