"""How a refund is spread over an order's Stripe payments, and what it came to.

A refund is made newest payment first (``refund_plan``); bank transfers are
refunded by hand. ``refund_result`` says what really went back after some
shares were refunded and one may have failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

import stripe
from temporalio.exceptions import ApplicationError

from workflows.models import Payment, PaymentMethod, RefundRequest, RefundResult


@dataclass(frozen=True)
class Allocation:
    payment: Payment
    amount: Decimal


def refund_plan(payments: list[Payment], amount: Decimal) -> list[Allocation] | None:
    """Which Stripe payments a refund of ``amount`` comes from, newest first.

    ``None`` when Stripe payments alone cannot cover it (bank transfers are
    refunded by hand, so the whole refund goes to operations as one task).
    """
    remaining = amount
    plan: list[Allocation] = []
    for payment in reversed(payments):
        if remaining <= 0:
            break
        if payment.method is PaymentMethod.BANK_TRANSFER:
            continue
        share = min(remaining, payment.amount)
        plan.append(Allocation(payment, share))
        remaining -= share
    if remaining > 0 or not plan:
        return None
    return plan


RefundStatus = Literal["succeeded", "pending", "failed", "partial"]

REFUND_FAILED: Final = frozenset({"failed", "canceled"})
"""Refund statuses that gave nothing back."""


def refund_result(
    request: RefundRequest,
    plan: list[Allocation],
    made: list[tuple[Allocation, stripe.Refund]],
    failure: ApplicationError | None,
) -> RefundResult:
    """What really went back, what did not, and why."""
    back = [(share, refund) for share, refund in made if refund.status not in REFUND_FAILED]
    refunded = sum((share.amount for share, _ in back), Decimal("0.00"))
    failed = request.amount - refunded
    reasons = [f"refund {refund.id} {refund.status}" for _, refund in made if refund.status in REFUND_FAILED]
    if failure is not None:
        reasons.append(failure.message)
    status: RefundStatus
    if failed <= 0:
        status = "succeeded" if all(refund.status == "succeeded" for _, refund in back) else "pending"
    else:
        status = "partial" if refunded > 0 else "failed"
    return RefundResult(
        amount=refunded,
        method=plan[0].payment.method,
        status=status,
        refund_id=",".join(refund.id for _, refund in made) or None,
        failed_amount=max(failed, Decimal("0.00")),
        message="; ".join(reasons) or None,
    )
