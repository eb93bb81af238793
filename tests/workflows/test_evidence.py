"""Each customer decision keeps its evidence (workflows/models/evidence.py): what the sender
said, completed by the order with the time, the address its links go to and the version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from activities.config import Settings
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


async def test_an_approval_bound_to_other_bytes_than_the_versions_pdf_is_refused(
    order: Handle, settings: Settings
) -> None:
    """The portal sends the hash of the PDF it showed: a hash that is not the version's is another document."""
    await order.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    issued = await until(order, lambda o: o.confirmations[0].document is not None, "the version's PDF")
    document = issued.confirmations[0].document
    assert document is not None
    other = Evidence(channel="portal", document_sha256="0" * 64, agreed_to_terms=True)
    await order.signal(names.APPROVE, ApproveInput(version=1, evidence=other))
    refused = await until(order, lambda o: bool(o.rejected), "refused")
    assert refused.status is OrderStatus.AWAITING_APPROVAL
    assert refused.rejected[0].reason.startswith("the PDF you were shown (SHA-256 000000000000…) is not version 1's")
    same = Evidence(channel="portal", document_sha256=document.sha256, agreed_to_terms=True)
    await order.signal(names.APPROVE, ApproveInput(version=1, evidence=same))
    approved = await until(order, lambda o: o.status is OrderStatus.AWAITING_PAYMENT, "approved")
    decision = approved.confirmations[0].decision
    assert decision is not None and decision.document_sha256 == document.sha256
