"""The payment port: how an order asks for money and gives it back.

The workflow calls two activities, ``request_payment`` and ``refund_payment``,
and never learns which provider sits behind them. Bank transfer is built in:
the customer pays by reference and an operator (or a web backend watching the
bank feed) records the payment. Card charges and hosted invoices plug in here
as further providers without reshaping the workflow.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import activity

from activities.config import Settings
from workflows.models import (
    PaymentInstructions,
    PaymentMethod,
    PaymentRequest,
    RefundRequest,
    RefundResult,
)
from workflows.names import REFUND_PAYMENT, REQUEST_PAYMENT


class PaymentActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name=REQUEST_PAYMENT)
    async def request_payment(self, request: PaymentRequest) -> PaymentInstructions:
        """Prepare whatever each allowed method needs before the customer can pay."""
        instructions = PaymentInstructions(reference=request.reference)
        if PaymentMethod.BANK_TRANSFER in request.methods:
            instructions.bank_transfer = {
                "account_name": self._settings.bank_account_name,
                "iban": self._settings.bank_iban,
                "bic": self._settings.bank_bic,
                "bank_name": self._settings.bank_name,
            }
        activity.logger.info(
            "payment requested",
            extra={"order_id": request.order_id, "methods": [m.value for m in request.methods]},
        )
        return instructions

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, request: RefundRequest) -> RefundResult:
        """Give money back. A bank transfer cannot be reversed by software, so
        the refund is handed to operations as a manual task."""
        method = request.payments[-1].method if request.payments else PaymentMethod.BANK_TRANSFER
        activity.logger.info(
            "refund handed to operations",
            extra={"order_id": request.order_id, "amount": str(request.amount)},
        )
        return RefundResult(
            amount=max(request.amount, Decimal("0.00")),
            method=method,
            status="manual",
        )
