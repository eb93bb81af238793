"""Invoices, their items and their payments: ``POST /v1/invoices``, ``POST /v1/invoiceitems``,
``POST /v1/invoices/{id}/finalize`` and ``/void``, ``GET /v1/invoices/{id}``, ``GET /v1/invoice_payments``;
and the customer paying the hosted invoice.

As in the pinned API version, an invoice has no ``payment_intent``: finalizing
one that is due makes a PaymentIntent and an ``invoice_payment`` that points to it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starter.stripe_double.errors import invalid
from starter.stripe_double.objects import copied, metadata, new_id, required
from starter.stripe_double.payment_intents import new_payment_intent
from starter.stripe_double.store import Store


def invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    found = store.invoices.get(invoice_id)
    if found is None:
        raise invalid(f"No such invoice: '{invoice_id}'", code="resource_missing", param="invoice", status=404)
    return found


def create_invoice(store: Store, form: dict[str, str]) -> dict[str, Any]:
    customer = required(form, "customer")
    collection = form.get("collection_method", "charge_automatically")
    if collection == "send_invoice" and "days_until_due" not in form and "due_date" not in form:
        raise invalid("Missing required param: days_until_due.", code="parameter_missing", param="days_until_due")
    invoice_id = new_id("in")
    created: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "auto_advance": form.get("auto_advance") == "true",
        "collection_method": collection,
        "created": int(time.time()),
        "currency": form.get("currency", "eur"),
        "customer": customer,
        "days_until_due": int(form["days_until_due"]) if "days_until_due" in form else None,
        "description": form.get("description"),
        "due_date": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False,
        "metadata": metadata(form),
        "number": None,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
        "subtotal": 0,
        "total": 0,
    }
    store.invoices[invoice_id] = created
    return copied(created)


def create_invoice_item(store: Store, form: dict[str, str]) -> dict[str, Any]:
    customer = required(form, "customer")
    amount = int(required(form, "amount"))
    invoice_id = form.get("invoice")
    item: dict[str, Any] = {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": form.get("currency", "eur"),
        "customer": customer,
        "date": int(time.time()),
        "description": form.get("description"),
        "invoice": invoice_id,
        "livemode": False,
        "metadata": metadata(form),
    }
    if invoice_id:
        _add_line(invoice(store, invoice_id), item)
    store.invoice_items[item["id"]] = item
    return copied(item)


def _add_line(draft: dict[str, Any], item: dict[str, Any]) -> None:
    """The item becomes a line of its draft invoice, whose totals follow."""
    if draft["status"] != "draft":
        raise invalid(
            f"You can only add invoice items to draft invoices, and {draft['id']} is {draft['status']}.",
            code="invoice_not_editable",
            param="invoice",
        )
    if draft["customer"] != item["customer"]:
        raise invalid("The invoice item's customer must match the invoice's.", param="customer")
    draft["lines"]["data"].append(
        {
            "id": new_id("il"),
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
        }
    )
    total = sum(line["amount"] for line in draft["lines"]["data"])
    draft.update(subtotal=total, total=total, amount_due=max(total, 0), amount_remaining=max(total, 0))


def finalize_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    """Number the invoice; paid at once if nothing is due, else open with a PaymentIntent to pay it."""
    draft = invoice(store, invoice_id)
    if draft["status"] != "draft":
        raise invalid(
            f"This invoice is already finalized, you can't re-finalize a non-draft invoice ({invoice_id}).",
            code="invoice_unexpected_state",
        )
    now = int(time.time())
    store.invoice_numbers += 1
    token = uuid.uuid4().hex[:20]
    draft.update(
        number=f"DOUBLE-{store.invoice_numbers:04d}",
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_double/test_{token}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_double/test_{token}/pdf",
        due_date=now + 86_400 * (draft["days_until_due"] or 0),
    )
    draft["status_transitions"]["finalized_at"] = now
    if draft["amount_due"] == 0:
        draft["status"] = "paid"
        draft["status_transitions"]["paid_at"] = now
        return copied(draft)
    draft["status"] = "open"
    _open_payment(store, draft, now)
    return copied(draft)


def _open_payment(store: Store, due: dict[str, Any], now: int) -> None:
    """The invoice's PaymentIntent, waiting for the customer, and the ``invoice_payment`` that links them."""
    intent = new_payment_intent(
        store,
        amount=due["amount_due"],
        currency=due["currency"],
        customer=due["customer"],
        payment_method=None,
        metadata={},  # an invoice's PaymentIntent does not carry the invoice's metadata
        status="requires_payment_method",
        description=f"Payment for Invoice {due['number']}",
    )
    payment: dict[str, Any] = {
        "id": new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": due["amount_due"],
        "created": now,
        "currency": due["currency"],
        "invoice": due["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    store.invoice_payments[payment["id"]] = payment


def void_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    voided = invoice(store, invoice_id)
    if voided["status"] != "open":
        raise invalid(
            f"You can only pass in open invoices. This invoice ({invoice_id}) is {voided['status']}.",
            code="invoice_not_open",
        )
    now = int(time.time())
    voided["status"] = "void"
    voided["status_transitions"]["voided_at"] = now
    for payment in store.invoice_payments.values():
        if payment["invoice"] == invoice_id and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = now
            store.payment_intents[payment["payment"]["payment_intent"]]["status"] = "canceled"
    return copied(voided)


def list_invoice_payments(store: Store, query: dict[str, str]) -> dict[str, Any]:
    invoice_id = query.get("invoice")
    status = query.get("status")
    data = [
        copied(p)
        for p in store.invoice_payments.values()
        if (invoice_id is None or p["invoice"] == invoice_id) and (status is None or p["status"] == status)
    ]
    return {"object": "list", "data": data, "has_more": False, "url": "/v1/invoice_payments"}


def pay_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    """The customer pays the hosted invoice: its PaymentIntent succeeds, the invoice is paid."""
    paid = store.invoices[invoice_id]
    if paid["status"] != "open":
        raise AssertionError(f"invoice {invoice_id} is {paid['status']}, not open")
    payment = next(p for p in store.invoice_payments.values() if p["invoice"] == invoice_id)
    intent = store.payment_intents[payment["payment"]["payment_intent"]]
    intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=new_id("ch"))
    now = int(time.time())
    payment.update(status="paid", amount_paid=intent["amount"])
    payment["status_transitions"]["paid_at"] = now
    paid.update(status="paid", amount_paid=paid["amount_due"], amount_remaining=0, paid=True)
    paid["status_transitions"]["paid_at"] = now
    return copied(paid)
