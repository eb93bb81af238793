"""Each customer decision keeps its evidence (workflows/models/evidence.py): what the sender
said, completed by the order with the time, the address its links go to and the version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from tests.helpers import draft, until
from workflows import names
from workflows.models import (
    AcceptInput,
    ApproveInput,
    DeliverInput,
    Evidence,
    IssueConfirmationInput,
    OrderStatus,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
)

Handle = WorkflowHandle[Any, Any]


async def test_every_decision_keeps_who_made_it_and_how(order: Handle) -> None:
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    await order.signal(names.REQUEST_CHANGES, RequestChangesInput(version=1, comments="Cheaper please"))
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft("4500.00")))
    back_office = Evidence(channel="client", by="Sam in sales")
    await order.signal(names.APPROVE, ApproveInput(version=2, evidence=back_office))
    await order.signal(names.RECORD_PAYMENT, RecordPaymentInput(amount=Decimal("4500.00"), reference="TX-1"))
    await order.signal(names.DELIVER, DeliverInput(summary="First cut"))
    portal = Evidence(channel="portal", link_id="a" * 32, client_ip="203.0.113.9", user_agent="Firefox/140")
    await order.signal(names.REQUEST_REVISION, RequestRevisionInput(comments="Logo", evidence=portal))
    await order.signal(names.DELIVER, DeliverInput(summary="Second cut"))
    await order.signal(names.ACCEPT, AcceptInput(evidence=Evidence(channel="cli", by="Jane")))
    done = await until(order, lambda o: o.status is OrderStatus.IN_SUPPORT, "accepted")

    asked, approved = (c.decision for c in done.confirmations)
    assert asked is not None and asked.channel == "client" and asked.by is None, "a caller that said nothing"
    assert approved is not None and (approved.channel, approved.by, approved.version) == ("client", "Sam in sales", 2)
    revision, acceptance = (d.decision for d in done.deliveries)
    assert revision is not None and (revision.client_ip, revision.user_agent) == ("203.0.113.9", "Firefox/140")
    assert acceptance is not None and (acceptance.channel, acceptance.by, acceptance.version) == ("cli", "Jane", 2)
    for decision in (asked, approved, revision, acceptance):
        assert decision.email == done.customer.email and decision.at is not None
