"""The steps of ``orders erase`` (workflows/erasure.py), where the order's personal data lives
outside Temporal: the outbox, the email ledger, the documents, Stripe, and its own key.

Each step is idempotent: erasing what is already gone counts 0 and succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.config import Settings
from activities.document_common import DocumentsNotErased
from activities.document_store import DocumentStore
from activities.email import list_outbox
from activities.email_ledger import SentLedger
from activities.stripe_payments import StripeGateway
from ordersecurity.key_store import ERASURE_RECORD, HOLD_RECORD, KeyStore
from ordersecurity.order_keys import OrderKeys
from workflows import names, search
from workflows.activity_refs import ErasureRefs
from workflows.models import ErasedPart, EraseOrderInput, ErasureRecord, LegalHold

log = logging.getLogger(__name__)

NOT_PERSONAL_ATTRIBUTES = frozenset(key.name for key in search.ALL_KEYS)
"""Statuses, amounts, dates and the CRM's opaque customer ref (workflows/search.py): no personal data."""


def refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=names.ERASURE_REFUSED_ERROR, non_retryable=True)


def active_hold(store: KeyStore, order_id: str, today: date) -> LegalHold | None:
    """The order's latest hold, while it lasts (a later hold replaces an earlier one; ``orders hold
    --release`` sets one that ended yesterday)."""
    holds = store.records(HOLD_RECORD, order_id)
    latest = LegalHold.model_validate_json(holds[-1]) if holds else None
    return latest if latest is not None and latest.until >= today else None


def _temporals_own(name: str) -> bool:
    """Temporal's attributes (patch ids, build ids): the worker's, never the order's data."""
    return name.startswith("Temporal") or name in ("BuildIds", "BinaryChecksums")


class ErasureActivities(ErasureRefs):
    def __init__(
        self,
        settings: Settings,
        documents: DocumentStore,
        stripe: StripeGateway | None,
        order_keys: OrderKeys | None,
    ) -> None:
        self._settings = settings
        self._documents = documents
        self._stripe = stripe
        self._order_keys = order_keys

    @activity.defn(name=names.CHECK_ERASABLE)
    async def check_erasable(self, request: EraseOrderInput) -> bool:
        order_id = request.order_id
        try:
            described = await activity.client().get_workflow_handle(names.workflow_id(order_id)).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise refused(f"there is no order {order_id} (or Temporal's retention has deleted it)") from None
            raise
        if described.status == WorkflowExecutionStatus.RUNNING:
            raise refused(
                f"order {order_id} is open: only a closed order (completed, cancelled or expired) can be erased; "
                "cancel it first if the customer withdrew"
            )
        if self._order_keys is None:
            return False  # no key store: nothing to destroy, the history stays readable until retention
        store = self._order_keys.store
        hold = await asyncio.to_thread(active_hold, store, order_id, datetime.now(UTC).date())
        if hold is not None:
            raise refused(
                f"order {order_id} is under a legal hold until {hold.until:%Y-%m-%d} ({hold.reason}, set by "
                f"{hold.set_by}): erase it after that, or release the hold (orders hold {order_id} --release)"
            )
        stored = await asyncio.to_thread(store.fetch, names.workflow_id(order_id))
        return stored is not None  # None: the order predates per-order keys

    @activity.defn(name=names.CHECK_SEARCH_ATTRIBUTES)
    async def check_search_attributes(self, request: EraseOrderInput) -> ErasedPart:
        # Temporal indexes search attributes in clear text and cannot change a closed workflow's:
        # they are kept until retention deletes the order, so they must never hold personal data.
        described = await activity.client().get_workflow_handle(names.workflow_id(request.order_id)).describe()
        names_found = sorted(key.name for key, _ in described.typed_search_attributes if not _temporals_own(key.name))
        unknown = [name for name in names_found if name not in NOT_PERSONAL_ATTRIBUTES]
        if unknown:
            detail = (
                f"NOT erased: {', '.join(unknown)} (not the project's; search attributes of a closed order "
                "cannot be changed, and go with its history at retention)"
            )
        else:
            detail = f"no personal data to erase ({', '.join(names_found) or 'none set'})"
        return ErasedPart(place="search attributes", count=0, detail=detail)

    @activity.defn(name=names.ERASE_ORDER_EMAILS)
    async def erase_order_emails(self, request: EraseOrderInput) -> list[ErasedPart]:
        return await asyncio.to_thread(self._erase_emails, request.order_id)

    def _erase_emails(self, order_id: str) -> list[ErasedPart]:
        files = [entry.path for entry in list_outbox(self._settings.outbox_dir) if entry.order_id == order_id]
        for path in files:
            path.unlink(missing_ok=True)
        parts = [ErasedPart(place="outbox", count=len(files), detail=str(self._settings.outbox_dir))]
        ledger = self._settings.email_ledger
        if ledger is not None and Path(ledger).exists():
            rows = SentLedger(ledger).erase_order(names.workflow_id(order_id))
            parts.append(ErasedPart(place="email ledger", count=rows, detail="message keys and SendGrid ids"))
        return parts

    @activity.defn(name=names.ERASE_ORDER_DOCUMENTS)
    async def erase_order_documents(self, request: EraseOrderInput) -> ErasedPart:
        try:
            count = await asyncio.to_thread(self._documents.erase_order, request.order_id)
        except DocumentsNotErased as refused_by_store:  # said in the record, for an administrator to finish
            log.warning("order %s: %s", request.order_id, refused_by_store)
            return ErasedPart(place="documents", count=0, detail=str(refused_by_store))
        return ErasedPart(place="documents", count=count, detail=self._documents.where)

    @activity.defn(name=names.REDACT_STRIPE_CUSTOMER)
    async def redact_stripe_customer(self, request: EraseOrderInput) -> ErasedPart:
        if self._stripe is None:
            return ErasedPart(place="Stripe", count=0, detail="Stripe is not configured: nothing was sent there")
        deleted = await self._stripe.delete_order_customers(request.order_id)
        detail = f"deleted {', '.join(deleted)}" if deleted else "the order made no Customer object"
        return ErasedPart(place="Stripe", count=len(deleted), detail=detail)

    @activity.defn(name=names.DESTROY_ORDER_KEY)
    async def destroy_order_key(self, request: EraseOrderInput) -> ErasedPart:
        if self._order_keys is None:
            raise RuntimeError("no key store (ORDERS_KEY_STORE) in this worker, but the check found the order's key")
        stored = await self._order_keys.destroy(names.workflow_id(request.order_id))
        when = f"destroyed {stored.erased_at:%Y-%m-%d %H:%M} UTC" if stored and stored.erased_at else "none found"
        return ErasedPart(
            place="order key", count=1 if stored else 0, detail=f"{when} in {self._order_keys.store.describe()}"
        )

    @activity.defn(name=names.RECORD_ERASURE)
    async def record_erasure(self, record: ErasureRecord) -> None:
        if self._order_keys is None:
            log.warning("order %s erased; no key store to keep the erasure record in", record.order_id)
            return
        store = self._order_keys.store
        if await asyncio.to_thread(store.records, ERASURE_RECORD, record.order_id):
            return  # a retried step: recorded once
        await asyncio.to_thread(
            store.add_record, ERASURE_RECORD, record.order_id, record.erased_at, record.model_dump_json()
        )
