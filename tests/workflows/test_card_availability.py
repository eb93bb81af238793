"""A worker refuses to offer what it cannot take: card and invoice terms need Stripe.

With no ``STRIPE_API_KEY`` on the worker, issuing terms that offer card (or a
hosted invoice) used to be accepted, and the customer was promised a way to
pay that could never work; ``orders card`` then said it was applied while the
charge failed where only operations saw it. The order now refuses both, in
the update's validator, with a message that names the missing variable.
Updates, so on the dev server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from tests.conftest import make_worker
from tests.helpers import card, draft, eventually, kinds, start_order, view
from tests.workflows.test_actions import act, rejection
from workflows import names
from workflows.models import IssueConfirmationInput, OrderStatus


@pytest.fixture
async def order(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    assert settings.stripe_api_key is None  # the worker has no Stripe
    async with make_worker(dev_env.client, settings, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        # The order has read the worker's configuration once it acknowledges the contact.
        await eventually(lambda: "contact_ack" in kinds(settings.outbox_dir), "contact acknowledged")
        yield handle
        if not (await view(handle)).status.is_final:
            await handle.terminate("test over")


@pytest.mark.parametrize("method", ["card", "invoice"])
async def test_terms_offering_what_the_worker_cannot_take_are_refused(
    order: WorkflowHandle[Any, Any], method: str
) -> None:
    terms = IssueConfirmationInput(confirmation=draft(payment_methods=["bank_transfer", method]))
    message = await rejection(order, names.ISSUE_CONFIRMATION, terms)
    assert "STRIPE_API_KEY" in message and repr(method) in message, message
    assert (await view(order)).status is OrderStatus.DISCUSSING

    # Bank transfer alone is fine.
    result = await act(order, names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))
    assert result.status is OrderStatus.AWAITING_APPROVAL


async def test_a_card_is_refused_when_the_worker_cannot_charge_it(order: WorkflowHandle[Any, Any]) -> None:
    message = await rejection(order, names.PROVIDE_PAYMENT_METHOD, card())
    assert "STRIPE_API_KEY" in message, message
    assert (await view(order)).payment_method_on_file is None
