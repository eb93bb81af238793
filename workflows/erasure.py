"""Erasing a closed order's personal data (``orders erase``), as a workflow of its own.

One per order (``erasure-<order id>``), so that a second request finds the first,
and an operator sees in the Temporal UI who erased what and when, or why an
erasure was refused. It runs on the order's worker, which has what erasure
touches: the outbox, the email ledger, the documents, Stripe and the key store.

The order's key is destroyed last: until then a failed step is retried while the
order is still readable. Every step is idempotent, so a retry after a worker
restart does no harm. Nothing here is personal data: the request, each step's
answer and the record name places and counts, never the customer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import names
from workflows.activity_refs import ErasureRefs
from workflows.models import ErasedPart, EraseOrderInput, ErasureRecord

# Each step is a few file, database or Stripe calls; retried for a day, because an
# erasure request has a legal deadline (a month) and a store may be down for hours.
STEP = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=[names.ERASURE_REFUSED_ERROR])
GIVE_UP = timedelta(days=1)

In = TypeVar("In")
Out = TypeVar("Out")


@workflow.defn(name=names.ERASURE_WORKFLOW_TYPE)
class OrderErasureWorkflow:
    @workflow.run
    async def run(self, request: EraseOrderInput) -> ErasureRecord:
        own_key = await self._step(ErasureRefs.check_erasable, request)
        parts: list[ErasedPart] = []
        if workflow.patched("erasure-checks-search-attributes"):
            parts.append(await self._step(ErasureRefs.check_search_attributes, request))
        parts += [
            *await self._step(ErasureRefs.erase_order_emails, request),
            await self._step(ErasureRefs.erase_order_documents, request),
            await self._step(ErasureRefs.redact_stripe_customer, request),
        ]
        if own_key:
            parts.append(await self._step(ErasureRefs.destroy_order_key, request))
        record = ErasureRecord(
            order_id=request.order_id,
            erased_at=workflow.now(),
            operator=request.operator,
            reason=request.reason,
            crypto_shredded=own_key,
            parts=parts,
        )
        await self._step(ErasureRefs.record_erasure, record)
        return record

    @staticmethod
    async def _step(activity: Callable[[ErasureRefs, In], Awaitable[Out]], argument: In) -> Out:
        return await workflow.execute_activity_method(
            activity,
            argument,
            start_to_close_timeout=STEP,
            schedule_to_close_timeout=GIVE_UP,
            retry_policy=RETRY,
        )
