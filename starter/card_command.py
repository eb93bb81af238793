"""``orders card``: what the charge really did, not only that the card was taken."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from rich.markup import escape

from orderclient.client import NoWorkerAvailable, OrderClient
from starter import console
from starter.console import DEFAULT_UPDATE_SECONDS, CliError, Exit, print_json
from workflows import names
from workflows.models import ActionResult, OrderStatus


async def last_charge_attempt(orders: OrderClient, order_id: str) -> int | None:
    """The number of the order's latest card charge; None when no worker answers,
    so that the card still goes out as an update Temporal holds (exit 5)."""
    try:
        view = await orders.status(order_id)
    except NoWorkerAvailable:
        return None
    return max((a.attempt for a in view.charge_attempts), default=0)


async def report_charge(
    orders: OrderClient, args: argparse.Namespace, result: ActionResult, request_id: str, after: int
) -> int:
    """``orders card``: what the charge really did, not only that the card was taken.

    The order charges the card after the update has answered, so wait (up to
    ``--timeout``) for the attempt it records: a decline or an error exits 1.
    """
    order_id = result.order_id
    if result.status is not OrderStatus.AWAITING_PAYMENT:
        message = f"card saved for order {order_id} ({result.status}): it is charged once payment is due"
        return _charge_said(args, result, request_id, None, Exit.OK, message)
    timeout = timedelta(seconds=args.timeout or DEFAULT_UPDATE_SECONDS)
    attempt = await orders.charge_outcome(order_id, after, timeout)
    if attempt is None:
        message = (
            f"card saved for order {order_id}; the charge has not finished within {timeout.total_seconds():g} s:"
            f" see `orders status {order_id}`"
        )
        return _charge_said(args, result, request_id, None, Exit.OK, message)
    intent = attempt.payment_intent_id or "no PaymentIntent"
    if attempt.status == "succeeded":
        view = await orders.status(order_id)
        message = f"card charged for order {order_id} ({intent}): now {view.status}"
        return _charge_said(args, result, request_id, attempt, Exit.OK, message, ok=True)
    if attempt.status == "processing":
        message = f"card payment for order {order_id} is processing at Stripe ({intent}); Stripe reports the outcome"
        return _charge_said(args, result, request_id, attempt, Exit.OK, message)
    what = {"declined": "was declined", "requires_action": "needs the customer to confirm it with their bank"}.get(
        attempt.status, "failed"
    )
    reason = attempt.message or "no reason given"
    code = f", {attempt.decline_code}" if attempt.decline_code else ""
    message = f"the card charge for order {order_id} {what}: {reason} ({intent}{code}; request id {request_id})"
    return _charge_said(args, result, request_id, attempt, Exit.REJECTED, message)


def _charge_said(
    args: argparse.Namespace,
    result: ActionResult,
    request_id: str,
    attempt: Any,
    code: Exit,
    message: str,
    *,
    ok: bool = False,
) -> int:
    if args.json:
        charge = attempt.model_dump(mode="json") if attempt is not None else None
        print_json(
            {
                **result.model_dump(mode="json"),
                "action": names.PROVIDE_PAYMENT_METHOD,
                "request_id": request_id,
                "charge": charge,
            }
        )
    elif code is Exit.OK:
        mark = "[green]✓[/]" if ok else "[yellow]…[/]"
        console.out.print(f"{mark} {escape(message)} (request id {request_id})", highlight=False, soft_wrap=True)
    if code is not Exit.OK:
        raise CliError(code, message)
    return code
